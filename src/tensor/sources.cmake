list(APPEND NABLA_SOURCES src/tensor/tensor.cpp)
