// Simulation model of the Lattice ECP5 MULT18X18D, for Verilator: the subset nn2rtl instantiates
// (rtl_lib.mac, Model.DSP: ecp5): an 18x18 multiplier, signed or unsigned per operand, with the input
// and output registers on CLK0/CE0/RST0 (synchronous reset) or bypassed ("NONE"). C, the cascade
// and the pipeline register are not modelled. Synthesis uses the primitive, never this file.
/* verilator lint_off UNUSEDSIGNAL */
/* verilator lint_off UNUSEDPARAM */
module MULT18X18D (
    input A0, A1, A2, A3, A4, A5, A6, A7, A8, A9, A10, A11, A12, A13, A14, A15, A16, A17, B0, B1, B2, B3, B4, B5, B6, B7, B8, B9, B10, B11, B12, B13, B14, B15, B16, B17, C0, C1, C2, C3, C4, C5, C6, C7, C8, C9, C10, C11, C12, C13, C14, C15, C16, C17, SIGNEDA, SIGNEDB, SOURCEA, SOURCEB, CLK0, CLK1, CLK2, CLK3, CE0, CE1, CE2, CE3, RST0, RST1, RST2, RST3,
    output P0, P1, P2, P3, P4, P5, P6, P7, P8, P9, P10, P11, P12, P13, P14, P15, P16, P17, P18, P19, P20, P21, P22, P23, P24, P25, P26, P27, P28, P29, P30, P31, P32, P33, P34, P35
);
  parameter REG_INPUTA_CLK = "NONE";
  parameter REG_INPUTB_CLK = "NONE";
  parameter REG_INPUTC_CLK = "NONE";
  parameter REG_PIPELINE_CLK = "NONE";
  parameter REG_OUTPUT_CLK = "NONE";
  parameter GSR = "ENABLED";
  parameter RESETMODE = "SYNC";
  wire [17:0] a = {A17, A16, A15, A14, A13, A12, A11, A10, A9, A8, A7, A6, A5, A4, A3, A2, A1, A0};
  wire [17:0] b = {B17, B16, B15, B14, B13, B12, B11, B10, B9, B8, B7, B6, B5, B4, B3, B2, B1, B0};
  reg [17:0] a_r, b_r;
  reg [35:0] p_r;
  always @(posedge CLK0) if (RST0) begin a_r <= 18'd0; b_r <= 18'd0; end
                         else if (CE0) begin a_r <= a; b_r <= b; end
  wire [17:0] a_q = (REG_INPUTA_CLK == "CLK0") ? a_r : a;
  wire [17:0] b_q = (REG_INPUTB_CLK == "CLK0") ? b_r : b;
  wire signed [36:0] a_x = {{19{SIGNEDA & a_q[17]}}, a_q};
  wire signed [36:0] b_x = {{19{SIGNEDB & b_q[17]}}, b_q};
  wire signed [73:0] full = a_x * b_x;
  wire [35:0] p = full[35:0];
  always @(posedge CLK0) if (RST0) p_r <= 36'd0; else if (CE0) p_r <= p;
  wire [35:0] p_q = (REG_OUTPUT_CLK == "CLK0") ? p_r : p;
  assign {P35, P34, P33, P32, P31, P30, P29, P28, P27, P26, P25, P24, P23, P22, P21, P20, P19, P18, P17, P16, P15, P14, P13, P12, P11, P10, P9, P8, P7, P6, P5, P4, P3, P2, P1, P0} = p_q;
endmodule
/* verilator lint_on UNUSEDPARAM */
/* verilator lint_on UNUSEDSIGNAL */
