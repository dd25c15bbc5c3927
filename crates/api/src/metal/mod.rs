//! `metal.sidero.dev`: Server, ServerClass, Environment.
