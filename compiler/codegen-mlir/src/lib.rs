//! Hourglass GPU code generator through MLIR to PTX
