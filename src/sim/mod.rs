//! The simulated Azure behind `arcfix demo` and the tests.
