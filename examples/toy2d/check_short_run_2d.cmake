# cmake -DTOY2D=<toy2d> -DOUT=<folder> -P check_short_run_2d.cmake
# The short-run paper's claim on its 2D toy (Appendix 7.7, Fig. 9), on the gmm toy after 600 iterations (seed 123):
# the KDE of the short-run samples matches the truth while the learned density, at the sampler's temperature, is far
# colder. Seeds 1-6 gave KL(q||KDE) 0.11-0.23, KL(q||p_theta) 48-118, H(p_theta) -6.7 to -3.9 against H(q) 1.09.
file(REMOVE_RECURSE ${OUT})
execute_process(COMMAND ${TOY2D} --toy 2d-short-run --short-run-iterations 600 --kde-samples 4000 --resolution 100
                        --quiet --output ${OUT}
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "toy2d --toy 2d-short-run failed (${rc}):\n${out}${err}")
endif()
foreach(f 2d_short_run_density.png 2d_short_run_density_raw.png 2d_short_run_diagnostics.png 2d_short_run.csv)
  if(NOT EXISTS ${OUT}/${f})
    message(FATAL_ERROR "toy2d --toy 2d-short-run did not write ${f}")
  endif()
endforeach()
file(READ ${OUT}/metrics.json j)
string(JSON kl_kde GET "${j}" 2d short-run kl_q_kde)
string(JSON kl_p GET "${j}" 2d short-run kl_q_p_theta)
string(JSON h_q GET "${j}" 2d short-run entropy_q)
string(JSON h_p GET "${j}" 2d short-run entropy_p_theta)
if(NOT kl_kde LESS 0.4)
  message(FATAL_ERROR "KL(q||KDE of short-run samples) = ${kl_kde}, expected < 0.4")
endif()
# KL(q||p_theta) > 8 (20 times the KDE bound) and H(p_theta) < H(q) - 2 = -0.91: the learned density is much colder.
if(kl_p LESS 8 OR h_p GREATER -0.91)
  message(FATAL_ERROR "the learned density is not colder than the truth: KL(q||p_theta) ${kl_p}, H(p_theta) ${h_p}, "
                      "H(q) ${h_q}")
endif()
message(STATUS "toy2d 2d short-run: KL(q||KDE) ${kl_kde}, KL(q||p_theta) ${kl_p}, H(q) ${h_q}, H(p_theta) ${h_p}")
