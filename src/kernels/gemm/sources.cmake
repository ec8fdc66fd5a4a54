list(APPEND NABLA_SOURCES src/kernels/gemm/gemm.cpp src/kernels/gemm/config.cpp src/kernels/gemm/reference.cpp)
list(APPEND NABLA_ISA_SOURCES src/kernels/gemm/gemm_@ISA@.cpp)
