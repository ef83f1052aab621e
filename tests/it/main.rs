//! zaaklink's integration tests, one test binary: each file of tests/it/ is a module (named
//! after what it tests: `cargo test --test it serve::`, `cargo nextest run -E 'test(/^load::/)'`).
//! One binary instead of one per file: the AWS SDK, the fakes and tests/common/ are compiled
//! and linked once instead of fourteen times (docs/TESTING.md). A test file added on its own
//! under tests/ still runs as its own binary; add it here as a module to fold it in.
//!
//! nextest runs every test in a process of its own; the tests of one module share one moto
//! server (tests/common/mod.rs, `Moto::start`), as they did as binaries of their own.

#[path = "../common/mod.rs"]
mod common;

mod audit;
mod audit_lambda;
mod audit_resume;
mod aws_moto;
mod deliver;
mod deliver_order;
mod faults;
mod hostile;
mod lambda_e2e;
mod load;
mod metrics;
mod restore;
mod resync;
mod secrets_aws;
mod secrets_in_logs;
mod serve;
mod template;
