# FindCUDNN
# ---------
# Finds the cuDNN library (header cudnn.h, library libcudnn).
#
# Search order: CUDNN_ROOT (CMake variable, then environment variable), the CUDA toolkit
# (CUDAToolkit_LIBRARY_ROOT / CUDAToolkit_INCLUDE_DIRS, CUDA_HOME, /usr/local/cuda), the system
# paths, and last the Python `nvidia-cudnn-cu*` wheel (site-packages/nvidia/cudnn/{include,lib}),
# which ships only versioned libraries (libcudnn.so.9), so those names are searched too.
#
# Result variables:
#   CUDNN_FOUND, CUDNN_INCLUDE_DIRS, CUDNN_LIBRARIES, CUDNN_VERSION (e.g. "9.19.0"),
#   CUDNN_VERSION_MAJOR, CUDNN_VERSION_MINOR, CUDNN_VERSION_PATCH
# Cache variables: CUDNN_INCLUDE_DIR, CUDNN_LIBRARY
# Imported target: CUDNN::cudnn

include(FindPackageHandleStandardArgs)

set(_cudnn_hints)
foreach(_root IN ITEMS "${CUDNN_ROOT}" "$ENV{CUDNN_ROOT}" "${CUDNN_ROOT_DIR}" "$ENV{CUDNN_ROOT_DIR}")
  if(_root)
    list(APPEND _cudnn_hints "${_root}")
  endif()
endforeach()

set(_cudnn_paths)
foreach(_root IN ITEMS "${CUDAToolkit_LIBRARY_ROOT}" "${CUDAToolkit_TARGET_DIR}" "$ENV{CUDA_HOME}"
                       "$ENV{CUDA_PATH}" /usr/local/cuda)
  if(_root)
    list(APPEND _cudnn_paths "${_root}")
  endif()
endforeach()
if(CUDAToolkit_INCLUDE_DIRS)
  list(APPEND _cudnn_include_paths ${CUDAToolkit_INCLUDE_DIRS})
endif()
if(CUDAToolkit_LIBRARY_DIR)
  list(APPEND _cudnn_library_paths ${CUDAToolkit_LIBRARY_DIR})
endif()

# The Python wheel, as a last resort: `import nvidia.cudnn` (a namespace package).
if(NOT CUDNN_INCLUDE_DIR OR NOT CUDNN_LIBRARY)
  find_program(_cudnn_python NAMES python3 python)
  if(_cudnn_python)
    execute_process(
      COMMAND "${_cudnn_python}" -c
              "import nvidia.cudnn as m; print(list(m.__path__)[0])"
      OUTPUT_VARIABLE _cudnn_wheel_root
      OUTPUT_STRIP_TRAILING_WHITESPACE
      ERROR_QUIET
      RESULT_VARIABLE _cudnn_python_rc)
    if(_cudnn_python_rc EQUAL 0 AND IS_DIRECTORY "${_cudnn_wheel_root}")
      list(APPEND _cudnn_wheel_paths "${_cudnn_wheel_root}")
    endif()
  endif()
  unset(_cudnn_python CACHE)
endif()

# Roots given explicitly win over everything else.
if(_cudnn_hints)
  find_path(CUDNN_INCLUDE_DIR cudnn.h
    PATHS ${_cudnn_hints} PATH_SUFFIXES include NO_DEFAULT_PATH)
endif()
find_path(CUDNN_INCLUDE_DIR cudnn.h
  HINTS ${_cudnn_paths} ${_cudnn_include_paths}
  PATH_SUFFIXES include
  PATHS ${_cudnn_wheel_paths})

# The library from the same installation as the header first, so that a header from one
# installation is never paired with the library of another.
if(CUDNN_INCLUDE_DIR)
  get_filename_component(_cudnn_prefix "${CUDNN_INCLUDE_DIR}" DIRECTORY)
  find_library(CUDNN_LIBRARY NAMES cudnn libcudnn.so.9 libcudnn.so.8
    PATHS "${_cudnn_prefix}" PATH_SUFFIXES lib lib64 lib/x64 NO_DEFAULT_PATH)
endif()
find_library(CUDNN_LIBRARY NAMES cudnn libcudnn.so.9 libcudnn.so.8
  HINTS ${_cudnn_hints} ${_cudnn_paths} ${_cudnn_library_paths}
  PATH_SUFFIXES lib lib64 lib/x64
  PATHS ${_cudnn_wheel_paths})

# Version: cudnn_version.h since cuDNN 8, cudnn.h before.
if(CUDNN_INCLUDE_DIR)
  foreach(_header IN ITEMS cudnn_version.h cudnn.h)
    if(EXISTS "${CUDNN_INCLUDE_DIR}/${_header}")
      file(STRINGS "${CUDNN_INCLUDE_DIR}/${_header}" _cudnn_version_lines
           REGEX "^#define[ \t]+CUDNN_(MAJOR|MINOR|PATCHLEVEL)[ \t]+[0-9]+")
      if(_cudnn_version_lines)
        foreach(_part IN ITEMS MAJOR MINOR PATCHLEVEL)
          string(REGEX MATCH "CUDNN_${_part}[ \t]+([0-9]+)" _m "${_cudnn_version_lines}")
          set(_cudnn_${_part} "${CMAKE_MATCH_1}")
        endforeach()
        set(CUDNN_VERSION_MAJOR ${_cudnn_MAJOR})
        set(CUDNN_VERSION_MINOR ${_cudnn_MINOR})
        set(CUDNN_VERSION_PATCH ${_cudnn_PATCHLEVEL})
        set(CUDNN_VERSION "${_cudnn_MAJOR}.${_cudnn_MINOR}.${_cudnn_PATCHLEVEL}")
        break()
      endif()
    endif()
  endforeach()
endif()

find_package_handle_standard_args(CUDNN
  REQUIRED_VARS CUDNN_LIBRARY CUDNN_INCLUDE_DIR
  VERSION_VAR CUDNN_VERSION)

if(CUDNN_FOUND)
  set(CUDNN_INCLUDE_DIRS "${CUDNN_INCLUDE_DIR}")
  set(CUDNN_LIBRARIES "${CUDNN_LIBRARY}")
  if(NOT TARGET CUDNN::cudnn)
    add_library(CUDNN::cudnn UNKNOWN IMPORTED)
    set_target_properties(CUDNN::cudnn PROPERTIES
      IMPORTED_LOCATION "${CUDNN_LIBRARY}"
      INTERFACE_INCLUDE_DIRECTORIES "${CUDNN_INCLUDE_DIR}")
    # cudnn.h includes cuda_runtime_api.h, which the wheel layout does not ship.
    if(TARGET CUDA::cudart)
      set_property(TARGET CUDNN::cudnn APPEND PROPERTY INTERFACE_LINK_LIBRARIES CUDA::cudart)
    endif()
  endif()
endif()

mark_as_advanced(CUDNN_INCLUDE_DIR CUDNN_LIBRARY)
unset(_cudnn_hints)
unset(_cudnn_paths)
unset(_cudnn_include_paths)
unset(_cudnn_library_paths)
unset(_cudnn_wheel_paths)
unset(_cudnn_prefix)
