#include <gtest/gtest.h>
#include "nabla/nabla.hpp"
TEST(Gemm, Smoke) {
  float a[6] = {1,2,3,4,5,6}, b[6] = {1,0,0,1,1,1}, c[4];
  nabla::kernels::gemm(nabla::kernels::Trans::No, nabla::kernels::Trans::No, 2, 2, 3, 1.f, a, 3, b, 2, 0.f, c, 2);
  EXPECT_EQ(c[0], 4); EXPECT_EQ(c[1], 5); EXPECT_EQ(c[2], 10); EXPECT_EQ(c[3], 11);
}
