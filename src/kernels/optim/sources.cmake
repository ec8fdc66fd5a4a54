list(APPEND NABLA_SOURCES src/kernels/optim/optim.cpp src/kernels/optim/reference.cpp)
list(APPEND NABLA_ISA_SOURCES src/kernels/optim/optim_@ISA@.cpp)
