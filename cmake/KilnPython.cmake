# The Python extension (kiln._C), built with nanobind. KILN_PYTHON=AUTO builds it when Python's
# headers and nanobind are found, ON requires them, OFF skips it.
#
# The interpreter is Debian's /usr/bin/python3 (the one with python3-numpy and python3-torch),
# not whichever python3 comes first on PATH; pass -DPython_EXECUTABLE=... to choose another.
# nanobind comes from PyPI into .cache/pydeps (scripts/setup.sh); pip install . gets it from the
# build requirements instead.
set(KILN_PYTHON AUTO CACHE STRING "Build the Python bindings: AUTO, ON or OFF")
set_property(CACHE KILN_PYTHON PROPERTY STRINGS AUTO ON OFF)
set(KILN_WITH_PYTHON OFF)
if(KILN_PYTHON STREQUAL "OFF")
  return()
endif()

if(NOT DEFINED Python_EXECUTABLE AND EXISTS /usr/bin/python3)
  set(Python_EXECUTABLE /usr/bin/python3)
endif()
if(KILN_PYTHON STREQUAL "ON")
  find_package(Python 3.9 REQUIRED COMPONENTS Interpreter Development.Module)
else()
  find_package(Python 3.9 COMPONENTS Interpreter Development.Module)
endif()
if(Python_FOUND AND NOT nanobind_DIR)
  execute_process(
    COMMAND ${CMAKE_COMMAND} -E env "PYTHONPATH=${CMAKE_SOURCE_DIR}/.cache/pydeps"
            "${Python_EXECUTABLE}" -m nanobind --cmake_dir
    OUTPUT_VARIABLE _kiln_nanobind_dir OUTPUT_STRIP_TRAILING_WHITESPACE
    RESULT_VARIABLE _kiln_nanobind_rc ERROR_QUIET)
  if(_kiln_nanobind_rc EQUAL 0)
    set(nanobind_DIR "${_kiln_nanobind_dir}")
  endif()
endif()
if(Python_FOUND)
  find_package(nanobind CONFIG QUIET)
endif()
if(Python_FOUND AND nanobind_FOUND)
  set(KILN_WITH_PYTHON ON)
  message(STATUS "Kiln: Python bindings for ${Python_EXECUTABLE} (nanobind ${nanobind_VERSION})")
elseif(KILN_PYTHON STREQUAL "ON")
  message(FATAL_ERROR "Kiln: KILN_PYTHON=ON but nanobind was not found (run scripts/setup.sh)")
else()
  message(WARNING "Kiln: Python bindings skipped (Python headers or nanobind missing: run scripts/setup.sh)")
endif()
