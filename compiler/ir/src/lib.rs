//! Hourglass graph IR: dtypes, symbolic shapes, the closed primitive op set, printer
