list(APPEND NABLA_SOURCES src/kernels/conv/conv.cpp src/kernels/conv/reference.cpp)
list(APPEND NABLA_ISA_SOURCES src/kernels/conv/conv_@ISA@.cpp)
