//! Hourglass front end: grammar, AST with spans, parser, name resolution, diagnostics
