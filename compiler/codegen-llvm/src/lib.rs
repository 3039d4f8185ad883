//! Hourglass CPU code generator through LLVM (object code)
