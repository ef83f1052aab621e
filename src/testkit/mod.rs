//! Tools for tests, demos and benchmarks — not part of the production path: HTTP fakes of
//! Open Klant and Open Zaak that behave like the real ones (docs/DESIGN.md §8), and an SDK
//! interceptor that counts AWS calls. The binaries use them only for `zaaklink demo` and
//! `zaaklink fake-open-klant`.

pub mod callcount;
pub mod fake_openklant;
pub mod fake_openzaak;
