"""Broken designs for showing that the simulation checks can fail.

Each fault is a Verilog wrapper with the ports of an nn2rtl top level around a correct design (module ``inner``),
breaking one promise of the protocol. A check that passes on these is a check that cannot fail.
"""

FAULTS = {
    # the 5th result vanishes: the consumer sees out_valid low while the design thinks it was taken
    "lost_result": """
  reg [15:0] taken = 0;
  wire drop = (taken == 16'd4) & i_out_valid;
  always @(posedge clk) if (rst) taken <= 0; else if (i_out_valid & (out_ready | drop)) taken <= taken + 1;
  assign out_valid = i_out_valid & ~drop;
  assign i_out_ready = out_ready | drop;
  assign out_data = i_out_data;
  assign in_ready = i_in_ready;
  assign i_in_valid = in_valid;""",
    # after the last expected result, one spurious result appears
    "extra_result": """
  reg [15:0] taken = 0;
  reg [3:0] after = 0;
  always @(posedge clk) if (rst) taken <= 0; else if (i_out_valid & out_ready) taken <= taken + 1;
  always @(posedge clk) if (rst) after <= 0; else if (taken == 16'd{n} && after != 4'hf) after <= after + 1;
  assign out_valid = i_out_valid | (after == 4'd3);
  assign i_out_ready = out_ready;
  assign out_data = i_out_data;
  assign in_ready = i_in_ready;
  assign i_in_valid = in_valid;""",
    # a stalled result changes its lowest bit in the cycle after the stall began
    "changes_while_stalled": """
  reg stalled = 0;
  always @(posedge clk) stalled <= out_valid & ~out_ready;
  assign out_data = i_out_data ^ {{{{({w}-1){{1'b0}}}}, stalled}};
  assign out_valid = i_out_valid;
  assign i_out_ready = out_ready;
  assign in_ready = i_in_ready;
  assign i_in_valid = in_valid;""",
    # in_ready stays high while the output stalls (the input then goes nowhere)
    "ready_while_stalled": """
  assign in_ready = i_in_ready | (i_out_valid & ~out_ready);
  assign i_in_valid = in_valid & i_in_ready;
  assign out_valid = i_out_valid;
  assign i_out_ready = out_ready;
  assign out_data = i_out_data;""",
    # inputs are taken only every other cycle: the II is 2, not the stated 1 (latency and values stay right)
    "slower_ii": """
  reg phase = 0;
  always @(posedge clk) if (rst) phase <= 0; else if (in_valid & in_ready) phase <= 1; else phase <= 0;
  assign in_ready = i_in_ready & ~phase;
  assign i_in_valid = in_valid & ~phase;
  assign out_valid = i_out_valid;
  assign i_out_ready = out_ready;
  assign out_data = i_out_data;""",
}


def wrap(inner_verilog, inner_top, fault, in_bits, out_bits, n_vectors, out_width):
    """Verilog text: ``inner_verilog`` with its top renamed ``<top>_inner``, and a top ``<top>`` with ``fault``."""
    body = FAULTS[fault].format(n=n_vectors, w=out_bits, ew=out_width)
    renamed = inner_verilog.replace(f"module {inner_top}(", f"module {inner_top}_inner(", 1)
    return renamed + f"""
module {inner_top}(clk, rst, in_data, in_valid, in_ready, out_data, out_valid, out_ready);
  input clk; input rst;
  input [{in_bits - 1}:0] in_data; input in_valid; output in_ready;
  output [{out_bits - 1}:0] out_data; output out_valid; input out_ready;
  wire i_in_ready, i_in_valid, i_out_valid, i_out_ready;
  wire [{out_bits - 1}:0] i_out_data;
  {inner_top}_inner inner(.clk(clk), .rst(rst), .in_data(in_data), .in_valid(i_in_valid), .in_ready(i_in_ready),
    .out_data(i_out_data), .out_valid(i_out_valid), .out_ready(i_out_ready));
{body}
endmodule
"""
