//! Tools for tests, demos and benchmarks — not part of the production path: HTTP fakes of
//! Open Klant and Open Zaak that behave like the real ones (docs/DESIGN.md §8), an SDK
//! interceptor that counts AWS calls, and a store wrapper whose indexes lag. Compiled only with
//! the `testkit` feature (the crate's tests and benches turn it on; Cargo.toml), so no binary
//! links it; `zaaklink demo` and `zaaklink fake-open-klant` compile their own copy of
//! fake_openklant.rs into the CLI (src/bin/zaaklink/main.rs).

pub mod callcount;
pub mod fake_openklant;
pub mod fake_openzaak;
pub mod lagging;
