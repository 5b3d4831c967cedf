// nn2rtl HLS layer library: max and average pooling over windows of the channels-last input.
#ifndef NN2RTL_POOL_H_
#define NN2RTL_POOL_H_

#include "common.h"

namespace nn2rtl {

// For every output o, the window x[idx[o][k]] (-1: padding, which never wins a maximum and adds zero to a sum).
// max: the largest element, cast to accum_t, then to the result. avg: the elements added in window order, every
// sum cast to accum_t, the raw sum divided by div[o] toward zero (as ap_fixed divides by an integer), cast to the
// result. CONFIG_T: n_in, n_out, window, mode (0 max, 1 avg), accum_t.
template <class data_T, class res_T, class CONFIG_T>
void pool(const data_T x[CONFIG_T::n_in], res_T y[CONFIG_T::n_out], const int idx[CONFIG_T::n_out * CONFIG_T::window],
          const int div[CONFIG_T::n_out]) {
#pragma HLS PIPELINE
    typedef typename CONFIG_T::accum_t accum_t;
    const int K = CONFIG_T::window;
    for (int o = 0; o < CONFIG_T::n_out; o++) {
#pragma HLS UNROLL
        if (CONFIG_T::mode == 0) {
            data_T m = min_value<data_T>();
            for (int k = 0; k < K; k++) {
#pragma HLS UNROLL
                const int i = idx[o * K + k];
                if (i >= 0 && x[i] > m) m = x[i];
            }
            y[o] = res_T(accum_t(m));
        } else {
            accum_t acc = 0;
            for (int k = 0; k < K; k++) {
#pragma HLS UNROLL
                const int i = idx[o * K + k];
                if (i >= 0) acc = acc + x[i];
            }
            typename fx<accum_t>::raw_t q = raw_of(acc);
            q = q / div[o];
            y[o] = res_T(from_raw<accum_t>(q));
        }
    }
}

}  // namespace nn2rtl

#endif
