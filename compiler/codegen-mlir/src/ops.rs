//! Small helpers for building MLIR operations through the generic `OperationBuilder`, and
//! the `gpu.func` / `gpu.module` wrappers every kernel needs.
//!
//! melior's typed helpers panic on failure and some of its generated dialect builders drop
//! results (e.g. `gpu.thread_id`), so kernels are built only with these helpers, which name
//! every operation and turn every failure into [`CodegenError::Build`]. All ops get the
//! builder's location; spans from kernel IR will flow in through it later.

use melior::Context;
use melior::ir::attribute::{StringAttribute, TypeAttribute};
use melior::ir::block::BlockLike;
use melior::ir::operation::{OperationBuilder, OperationMutLike};
use melior::ir::r#type::FunctionType;
use melior::ir::{Attribute, Block, Identifier, Location, Module, Operation, Region, RegionLike, Type, Value};

use crate::CodegenError;

/// Builds operations in one context at one location.
pub(crate) struct OpBuilder<'c> {
    pub context: &'c Context,
    pub location: Location<'c>,
}

impl<'c> OpBuilder<'c> {
    pub fn new(context: &'c Context) -> Self {
        OpBuilder { context, location: Location::unknown(context) }
    }

    /// Parses a type from MLIR's syntax, e.g. `memref<?xf32>`.
    pub fn parse_type(&self, text: &str) -> Result<Type<'c>, CodegenError> {
        Type::parse(self.context, text).ok_or_else(|| CodegenError::Build {
            what: format!("type `{text}`"),
            message: "the type does not parse".to_string(),
        })
    }

    /// Parses an attribute from MLIR's syntax, e.g. `#gpu<dim x>` or `0.0 : f32`.
    pub fn parse_attribute(&self, text: &str) -> Result<Attribute<'c>, CodegenError> {
        Attribute::parse(self.context, text).ok_or_else(|| CodegenError::Build {
            what: format!("attribute `{text}`"),
            message: "the attribute does not parse".to_string(),
        })
    }

    /// Builds the operation `name` from its operands, result types, attributes and regions.
    pub fn op(
        &self,
        name: &str,
        operands: &[Value<'c, '_>],
        results: &[Type<'c>],
        attributes: &[(&str, Attribute<'c>)],
        regions: Vec<Region<'c>>,
    ) -> Result<Operation<'c>, CodegenError> {
        let attributes: Vec<_> =
            attributes.iter().map(|(key, value)| (Identifier::new(self.context, key), *value)).collect();
        OperationBuilder::new(name, self.location)
            .add_operands(operands)
            .add_results(results)
            .add_attributes(&attributes)
            .add_regions_vec(regions)
            .build()
            .map_err(|error| CodegenError::Build { what: format!("operation `{name}`"), message: error.to_string() })
    }

    /// Appends `name` with one result of type `result` to `block` and returns that result.
    pub fn value<'a>(
        &self,
        block: &'a Block<'c>,
        name: &str,
        operands: &[Value<'c, '_>],
        result: Type<'c>,
        attributes: &[(&str, Attribute<'c>)],
    ) -> Result<Value<'c, 'a>, CodegenError> {
        let op = self.op(name, operands, &[result], attributes, Vec::new())?;
        block
            .append_operation(op)
            .result(0)
            .map(Into::into)
            .map_err(|error| CodegenError::Build { what: format!("operation `{name}`"), message: error.to_string() })
    }

    /// Appends `name` without results or attributes to `block`.
    pub fn append(
        &self,
        block: &Block<'c>,
        name: &str,
        operands: &[Value<'c, '_>],
        regions: Vec<Region<'c>>,
    ) -> Result<(), CodegenError> {
        block.append_operation(self.op(name, operands, &[], &[], regions)?);
        Ok(())
    }

    /// Appends `arith.constant` of `value` (an attribute in MLIR syntax carrying its type,
    /// e.g. `0 : index`) with result type `ty` to `block` and returns the constant.
    pub fn constant<'a>(&self, block: &'a Block<'c>, value: &str, ty: Type<'c>) -> Result<Value<'c, 'a>, CodegenError> {
        let value = self.parse_attribute(value)?;
        self.value(block, "arith.constant", &[], ty, &[("value", value)])
    }
}

impl<'c> OpBuilder<'c> {
    /// A `gpu.func` kernel named `name` taking `inputs`, with `body` (whose arguments must
    /// match `inputs`) as its only block.
    pub fn gpu_kernel(&self, name: &str, inputs: &[Type<'c>], body: Block<'c>) -> Result<Operation<'c>, CodegenError> {
        let function_type = FunctionType::new(self.context, inputs, &[]).into();
        self.op(
            "gpu.func",
            &[],
            &[],
            &[
                ("function_type", TypeAttribute::new(function_type).into()),
                ("sym_name", StringAttribute::new(self.context, name).into()),
                ("gpu.kernel", Attribute::unit(self.context)),
            ],
            vec![region(body)],
        )
    }

    /// A top-level module (marked `gpu.container_module`) holding one `gpu.module` named
    /// `name` with `kernels` in it: the unit [`crate::lower::lower_to_ptx`] turns into PTX.
    pub fn gpu_container(&self, name: &str, kernels: Vec<Operation<'c>>) -> Result<Module<'c>, CodegenError> {
        let body = Block::new(&[]);
        for kernel in kernels {
            body.append_operation(kernel);
        }
        let symbol = StringAttribute::new(self.context, name).into();
        let gpu_module = self.op("gpu.module", &[], &[], &[("sym_name", symbol)], vec![region(body)])?;
        let mut module = Module::new(self.location);
        module.as_operation_mut().set_attribute("gpu.container_module", Attribute::unit(self.context));
        module.body().append_operation(gpu_module);
        Ok(module)
    }
}

/// The `index`-th argument of `block`.
pub(crate) fn argument<'c, 'a>(block: &'a Block<'c>, index: usize) -> Result<Value<'c, 'a>, CodegenError> {
    block
        .argument(index)
        .map(Into::into)
        .map_err(|error| CodegenError::Build { what: format!("block argument {index}"), message: error.to_string() })
}

/// A region holding exactly `block`.
pub(crate) fn region(block: Block<'_>) -> Region<'_> {
    let region = Region::new();
    region.append_block(block);
    region
}
