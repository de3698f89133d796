# FindNCCL
# --------
# Finds NCCL (header nccl.h, library libnccl).
#
# Search order: NCCL_ROOT (CMake variable, then environment variable; NCCL_HOME also accepted),
# the CUDA toolkit (CUDAToolkit_LIBRARY_ROOT / CUDAToolkit_INCLUDE_DIRS, CUDA_HOME,
# /usr/local/cuda), the system paths, and last the Python `nvidia-nccl-cu*` wheel
# (site-packages/nvidia/nccl/{include,lib}), which ships only libnccl.so.2.
#
# Result variables:
#   NCCL_FOUND, NCCL_INCLUDE_DIRS, NCCL_LIBRARIES, NCCL_VERSION (e.g. "2.28.9"),
#   NCCL_VERSION_MAJOR, NCCL_VERSION_MINOR, NCCL_VERSION_PATCH
# Cache variables: NCCL_INCLUDE_DIR, NCCL_LIBRARY
# Imported target: NCCL::nccl

include(FindPackageHandleStandardArgs)

set(_nccl_hints)
foreach(_root IN ITEMS "${NCCL_ROOT}" "$ENV{NCCL_ROOT}" "${NCCL_ROOT_DIR}" "$ENV{NCCL_ROOT_DIR}"
                       "$ENV{NCCL_HOME}")
  if(_root)
    list(APPEND _nccl_hints "${_root}")
  endif()
endforeach()

set(_nccl_paths)
foreach(_root IN ITEMS "${CUDAToolkit_LIBRARY_ROOT}" "${CUDAToolkit_TARGET_DIR}" "$ENV{CUDA_HOME}"
                       "$ENV{CUDA_PATH}" /usr/local/cuda)
  if(_root)
    list(APPEND _nccl_paths "${_root}")
  endif()
endforeach()
if(CUDAToolkit_INCLUDE_DIRS)
  list(APPEND _nccl_include_paths ${CUDAToolkit_INCLUDE_DIRS})
endif()
if(CUDAToolkit_LIBRARY_DIR)
  list(APPEND _nccl_library_paths ${CUDAToolkit_LIBRARY_DIR})
endif()

# The Python wheel, as a last resort: `import nvidia.nccl` (a namespace package).
if(NOT NCCL_INCLUDE_DIR OR NOT NCCL_LIBRARY)
  find_program(_nccl_python NAMES python3 python)
  if(_nccl_python)
    execute_process(
      COMMAND "${_nccl_python}" -c "import nvidia.nccl as m; print(list(m.__path__)[0])"
      OUTPUT_VARIABLE _nccl_wheel_root
      OUTPUT_STRIP_TRAILING_WHITESPACE
      ERROR_QUIET
      RESULT_VARIABLE _nccl_python_rc)
    if(_nccl_python_rc EQUAL 0 AND IS_DIRECTORY "${_nccl_wheel_root}")
      list(APPEND _nccl_wheel_paths "${_nccl_wheel_root}")
    endif()
  endif()
  unset(_nccl_python CACHE)
endif()

# Roots given explicitly win over everything else.
if(_nccl_hints)
  find_path(NCCL_INCLUDE_DIR nccl.h
    PATHS ${_nccl_hints} PATH_SUFFIXES include NO_DEFAULT_PATH)
endif()
find_path(NCCL_INCLUDE_DIR nccl.h
  HINTS ${_nccl_paths} ${_nccl_include_paths}
  PATH_SUFFIXES include
  PATHS ${_nccl_wheel_paths})

# The library from the same installation as the header first, so that a header from one
# installation is never paired with the library of another.
if(NCCL_INCLUDE_DIR)
  get_filename_component(_nccl_prefix "${NCCL_INCLUDE_DIR}" DIRECTORY)
  find_library(NCCL_LIBRARY NAMES nccl libnccl.so.2
    PATHS "${_nccl_prefix}" PATH_SUFFIXES lib lib64 NO_DEFAULT_PATH)
endif()
find_library(NCCL_LIBRARY NAMES nccl libnccl.so.2
  HINTS ${_nccl_hints} ${_nccl_paths} ${_nccl_library_paths}
  PATH_SUFFIXES lib lib64
  PATHS ${_nccl_wheel_paths})

if(NCCL_INCLUDE_DIR AND EXISTS "${NCCL_INCLUDE_DIR}/nccl.h")
  file(STRINGS "${NCCL_INCLUDE_DIR}/nccl.h" _nccl_version_lines
       REGEX "^#define[ \t]+NCCL_(MAJOR|MINOR|PATCH)[ \t]+[0-9]+")
  if(_nccl_version_lines)
    foreach(_part IN ITEMS MAJOR MINOR PATCH)
      string(REGEX MATCH "NCCL_${_part}[ \t]+([0-9]+)" _m "${_nccl_version_lines}")
      set(NCCL_VERSION_${_part} "${CMAKE_MATCH_1}")
    endforeach()
    set(NCCL_VERSION "${NCCL_VERSION_MAJOR}.${NCCL_VERSION_MINOR}.${NCCL_VERSION_PATCH}")
  endif()
endif()

find_package_handle_standard_args(NCCL
  REQUIRED_VARS NCCL_LIBRARY NCCL_INCLUDE_DIR
  VERSION_VAR NCCL_VERSION)

if(NCCL_FOUND)
  set(NCCL_INCLUDE_DIRS "${NCCL_INCLUDE_DIR}")
  set(NCCL_LIBRARIES "${NCCL_LIBRARY}")
  if(NOT TARGET NCCL::nccl)
    add_library(NCCL::nccl UNKNOWN IMPORTED)
    set_target_properties(NCCL::nccl PROPERTIES
      IMPORTED_LOCATION "${NCCL_LIBRARY}"
      INTERFACE_INCLUDE_DIRECTORIES "${NCCL_INCLUDE_DIR}")
    # nccl.h includes cuda_runtime.h, which the wheel layout does not ship.
    if(TARGET CUDA::cudart)
      set_property(TARGET NCCL::nccl APPEND PROPERTY INTERFACE_LINK_LIBRARIES CUDA::cudart)
    endif()
  endif()
endif()

mark_as_advanced(NCCL_INCLUDE_DIR NCCL_LIBRARY)
unset(_nccl_hints)
unset(_nccl_paths)
unset(_nccl_include_paths)
unset(_nccl_library_paths)
unset(_nccl_wheel_paths)
unset(_nccl_prefix)
