list(APPEND NABLA_SOURCES src/kernels/pool/pool.cpp src/kernels/pool/reference.cpp)
list(APPEND NABLA_ISA_SOURCES src/kernels/pool/pool_@ISA@.cpp)
