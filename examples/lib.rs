//! Runnable scenarios; see the files beside this one.
