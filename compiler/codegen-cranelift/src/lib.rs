//! Hourglass CPU code generator through Cranelift (JIT)
