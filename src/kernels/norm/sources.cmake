list(APPEND NABLA_SOURCES src/kernels/norm/norm.cpp src/kernels/norm/reference.cpp)
list(APPEND NABLA_ISA_SOURCES src/kernels/norm/norm_@ISA@.cpp)
