//! Tools for tests, demos and benchmarks — not part of the production path: HTTP fakes of
//! Open Klant and Open Zaak that behave like the real ones (docs/DESIGN.md §8), an SDK
//! interceptor that counts AWS calls, and a store wrapper whose indexes lag. The binaries use them only for `zaaklink demo` and
//! `zaaklink fake-open-klant`.

pub mod callcount;
pub mod fake_openklant;
pub mod fake_openzaak;
pub mod lagging;
