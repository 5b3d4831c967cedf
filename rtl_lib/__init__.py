"""Reusable Amaranth building blocks for fixed-point datapaths.

Nothing here knows about ONNX or graphs: blocks take fixed-point types (:class:`nn2rtl.fixed.FixedType`),
integer constants and sizes, and expose :class:`amaranth.lib.wiring.Component` signatures.
"""
