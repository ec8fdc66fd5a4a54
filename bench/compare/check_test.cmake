# ctest nabla_compare_check: runs `nabla_compare --check-only` on one small
# case of each kind (a dense and a convolutional training step, a
# convolution layer's passes, a GEMM) and every optimiser (50 steps each
# against libtorch's) and asserts that it exits 0 and that
# its output says the checks passed for every peer built in (PEERS, a
# comma-separated list).
#   cmake -DPROGRAM=path/to/nabla_compare -DPEERS=openblas,onednn, -P check_test.cmake
set(filter "^(train/mlp-tanh/b64|train/lenet/b1|conv/conv2_6x12x12_16x5x5/train|gemm/mlp_fwd_NT/64x10x128|optim/.*)$")
execute_process(COMMAND ${PROGRAM} --check-only --threads 1 --filter ${filter}
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
message("${out}${err}")
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "nabla_compare --check-only exited with ${rc}")
endif()
string(REPLACE "," ";" peers "${PEERS}")
foreach(peer ${peers})
  if(NOT out MATCHES "checks passed: ${peer}: [1-9][0-9]* passed, 0 mismatched")
    message(FATAL_ERROR "no passed checks for ${peer} in the output")
  endif()
endforeach()
message(STATUS "checks passed for: ${PEERS}")
