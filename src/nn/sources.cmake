list(APPEND NABLA_SOURCES src/nn/init.cpp src/nn/layers.cpp src/nn/sequential.cpp src/nn/loss.cpp
     src/nn/optim.cpp src/nn/serialize.cpp src/nn/registry.cpp src/nn/presets.cpp src/nn/residual.cpp)
list(APPEND NABLA_SOURCES src/nn/schedule.cpp)
