# Writes OUT, a header naming the commit kiln is built from (llama-bench's build_commit and
# build_number), and rewrites it only when that changes, so an unchanged tree rebuilds nothing.
execute_process(COMMAND git rev-parse --short=7 HEAD WORKING_DIRECTORY ${SOURCE_DIR}
                OUTPUT_VARIABLE commit OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET RESULT_VARIABLE commit_failed)
execute_process(COMMAND git rev-list --count HEAD WORKING_DIRECTORY ${SOURCE_DIR}
                OUTPUT_VARIABLE number OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET RESULT_VARIABLE number_failed)
if(commit_failed OR commit STREQUAL "")
  set(commit "unknown")
endif()
if(number_failed OR number STREQUAL "")
  set(number 0)
endif()
set(text "#pragma once\n#define KILN_BUILD_COMMIT \"${commit}\"\n#define KILN_BUILD_NUMBER ${number}\n")
if(EXISTS ${OUT})
  file(READ ${OUT} old)
endif()
if(NOT old STREQUAL text)
  file(WRITE ${OUT} "${text}")
endif()
