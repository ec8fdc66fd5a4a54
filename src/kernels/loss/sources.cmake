list(APPEND NABLA_SOURCES src/kernels/loss/loss.cpp src/kernels/loss/reference.cpp)
list(APPEND NABLA_ISA_SOURCES src/kernels/loss/loss_@ISA@.cpp)
