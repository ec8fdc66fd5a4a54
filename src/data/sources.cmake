list(APPEND NABLA_SOURCES src/data/dataset.cpp src/data/idx.cpp src/data/csv.cpp src/data/file.cpp)
