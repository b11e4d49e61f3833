//! End-to-end tests of SIOMS live in `tests/`: `make test` starts a whole stack with
//! `STACK=e2e scripts/stack.sh up` (the way `make up` does, on its own ports, key prefix,
//! exchange, queues and databases), runs them against its gateway only, and stops it.
