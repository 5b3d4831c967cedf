// nn2rtl HLS layer library: requantisation, affine maps and multi-threshold quantisers.
#ifndef NN2RTL_QUANT_H_
#define NN2RTL_QUANT_H_

#include "common.h"

namespace nn2rtl {

// clamp(round(x * 2^-shift), lo, hi) (QONNX Quant with a power-of-two scale): x relabelled as src_t (the binary
// point moved by the shift), rounded into mid_t (carrying the rounding mode, wide enough not to wrap), clamped to
// the raw bounds (bounds[0] = lo, bounds[1] = hi, raw values of mid_t), cast to the result (saturating).
// CONFIG_T: n_in, src_t, mid_t, mid_trn_t (mid_t truncating: the final cast drops no bits).
template <class data_T, class res_T, class CONFIG_T, class BR>
void requantize(const data_T x[CONFIG_T::n_in], res_T y[CONFIG_T::n_in], const BR bounds[2]) {
#pragma HLS PIPELINE
    typedef typename CONFIG_T::mid_t mid_t;
    const typename fx<mid_t>::raw_t lo = bounds[0], hi = bounds[1];
    for (int i = 0; i < CONFIG_T::n_in; i++) {
#pragma HLS UNROLL
        const typename CONFIG_T::src_t s = from_raw<typename CONFIG_T::src_t>(raw_of(x[i]));
        const mid_t m = s;
        typename fx<mid_t>::raw_t r = raw_of(m);
        if (r < lo) r = lo;
        if (r > hi) r = hi;
        y[i] = res_T(from_raw<typename CONFIG_T::mid_trn_t>(r));
    }
}

// cast(x * scale + bias), exact before the cast (one scale and bias per element; has_scale / has_bias).
// CONFIG_T: n_in, scale_t, bias_t.
template <class data_T, class res_T, class CONFIG_T, class SR, class BR>
void scale_shift(const data_T x[CONFIG_T::n_in], res_T y[CONFIG_T::n_in], const SR scale[CONFIG_T::n_in],
                 const BR bias[CONFIG_T::n_in]) {
#pragma HLS PIPELINE
#pragma HLS ARRAY_PARTITION variable=scale complete
#pragma HLS ARRAY_PARTITION variable=bias complete
    for (int i = 0; i < CONFIG_T::n_in; i++) {
#pragma HLS UNROLL
        const typename CONFIG_T::scale_t s = from_raw<typename CONFIG_T::scale_t>(scale[i]);
        const typename CONFIG_T::bias_t b = from_raw<typename CONFIG_T::bias_t>(bias[i]);
        if (CONFIG_T::has_scale && CONFIG_T::has_bias) {
            y[i] = res_T(x[i] * s + b);
        } else if (CONFIG_T::has_scale) {
            y[i] = res_T(x[i] * s);
        } else if (CONFIG_T::has_bias) {
            y[i] = res_T(x[i] + b);
        } else {
            y[i] = res_T(x[i]);
        }
    }
}

// Multi-threshold quantiser: raw output base[i] + sign[i] * step * #{k : raw(x[i]) >= th[i][k]} (thresholds
// ascending raw values of data_T, possibly one past its largest: never). CONFIG_T: n_in, levels, step.
template <class data_T, class res_T, class CONFIG_T, class TR>
void multi_threshold(const data_T x[CONFIG_T::n_in], res_T y[CONFIG_T::n_in],
                     const TR th[CONFIG_T::n_in * (CONFIG_T::levels > 0 ? CONFIG_T::levels : 1)],
                     const int64_t base[CONFIG_T::n_in], const int sign[CONFIG_T::n_in]) {
#pragma HLS PIPELINE
    for (int i = 0; i < CONFIG_T::n_in; i++) {
#pragma HLS UNROLL
        const typename fx<data_T>::raw_t r = raw_of(x[i]);
        int64_t count = 0;
        for (int k = 0; k < CONFIG_T::levels; k++) {
#pragma HLS UNROLL
            if (r >= th[i * CONFIG_T::levels + k]) count++;
        }
        const int64_t code = base[i] + sign[i] * CONFIG_T::step * count;
        y[i] = from_raw<res_T>(ap_int<64>(code));
    }
}

}  // namespace nn2rtl

#endif
