list(APPEND NABLA_SOURCES src/kernels/activation/activation.cpp src/kernels/activation/reference.cpp)
list(APPEND NABLA_ISA_SOURCES src/kernels/activation/activation_@ISA@.cpp)
