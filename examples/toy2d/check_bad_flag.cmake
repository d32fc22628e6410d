# Runs toy2d with one bad flag (cmake -P): it must exit non-zero, name the flag or value in its message, and
# leave no output folder behind.
file(REMOVE_RECURSE ${OUT})
execute_process(COMMAND ${TOY2D} ${FLAG} ${VALUE} --output ${OUT} RESULT_VARIABLE rc OUTPUT_VARIABLE out
                ERROR_VARIABLE err)
if(rc EQUAL 0)
  message(FATAL_ERROR "toy2d ${FLAG} ${VALUE} exited 0")
endif()
string(FIND "${out}${err}" "${FLAG}" at_flag)
string(FIND "${out}${err}" "${VALUE}" at_value)
if(at_flag EQUAL -1 AND at_value EQUAL -1)
  message(FATAL_ERROR "toy2d ${FLAG} ${VALUE}: the message names neither the flag nor the value:\n${out}${err}")
endif()
if(EXISTS ${OUT})
  message(FATAL_ERROR "toy2d ${FLAG} ${VALUE} left an output folder ${OUT}")
endif()
message(STATUS "toy2d ${FLAG} ${VALUE}: rc ${rc}: ${err}")
