//! Hourglass end-to-end tests
