# CostackSources.cmake - read csrc/sources.txt, the one description of which
# files and defines make the C core for each backend and platform, and
# resolve a backend for the platform being built for.
#
#   costack_sources_read(<file>)
#       Parses the file (format: its header comment) into variables of the
#       caller's scope: COSTACK_SRC__<name>__<key> holds the values of the
#       line "<name> <key> <values...>" (lines with the same name and key
#       add up), COSTACK_SRC_BACKENDS the backends (names with a platform
#       line), COSTACK_SRC_FILE the file.
#
#   costack_target_os(<out>) / costack_target_arch(<out>) /
#   costack_target_platform(<out>)
#       The platform being built for, named as sources.txt names it (Rust's
#       target_os, target_arch and target_family): CMake's
#       CMAKE_SYSTEM_NAME and CMAKE_SYSTEM_PROCESSOR mapped.
#
#   costack_sources_resolve(<backend-or-empty>)
#       After costack_sources_read: checks that the backend runs on the
#       target (FATAL_ERROR with the reason when not), picks the default
#       when <backend> is empty, and sets in the caller's scope:
#         COSTACK_RESOLVED_BACKEND  the backend's name
#         COSTACK_RESOLVED_WHY      how it was chosen (for a status line)
#         COSTACK_RESOLVED_TARGET   <os>-<arch> of the target
#         COSTACK_CORE_SOURCES      absolute paths of the files to compile
#         COSTACK_CORE_DEFINES      preprocessor symbols for every file
#         COSTACK_CORE_HEADERS      absolute paths of the public headers
#         COSTACK_CORE_LIBS         system libraries (names, as for -l)
#         COSTACK_CORE_HAS_ASM      TRUE when a source is a .S file
#
# Names, keys and values are words without spaces, so CMake lists carry
# them as they are.

# The keys each kind of line may use; anything else is a format this
# module does not know yet, which must not be ignored silently.
set(_COSTACK_LIST_KEYS sources headers libs arch os defines)

function(costack_sources_read file)
    if(NOT EXISTS "${file}")
        message(FATAL_ERROR "costack: ${file} does not exist; it lists the "
                            "C core's sources and cannot be done without")
    endif()
    set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS "${file}")
    file(STRINGS "${file}" lines)
    set(names "")
    set(backends "")
    set(lineno 0)
    foreach(line IN LISTS lines)
        math(EXPR lineno "${lineno} + 1")
        string(REGEX REPLACE "#.*" "" line "${line}")
        string(REGEX MATCHALL "[^ \t\r]+" words "${line}")
        list(LENGTH words n)
        if(n EQUAL 0)
            continue()
        endif()
        if(n LESS 2)
            message(FATAL_ERROR "costack: ${file}: \"${line}\" has a name "
                                "but no key")
        endif()
        list(GET words 0 name)
        list(GET words 1 key)
        list(REMOVE_AT words 0 1)
        if(name STREQUAL "default")
            # default <key> <backend>: one backend per key.
            list(LENGTH words nv)
            if(NOT nv EQUAL 1)
                message(FATAL_ERROR "costack: ${file}: \"${line}\": a "
                                    "default line names one backend")
            endif()
            if(NOT DEFINED "COSTACK_SRC__default__${key}")
                set("COSTACK_SRC__default__${key}" "${words}")
            endif()
        elseif(key STREQUAL "platform")
            list(LENGTH words nv)
            if(NOT nv EQUAL 1 OR DEFINED "COSTACK_SRC__${name}__platform")
                message(FATAL_ERROR "costack: ${file}: \"${line}\": a "
                                    "backend has exactly one platform")
            endif()
            set("COSTACK_SRC__${name}__platform" "${words}")
            list(APPEND backends "${name}")
        elseif(key IN_LIST _COSTACK_LIST_KEYS)
            list(APPEND "COSTACK_SRC__${name}__${key}" ${words})
            # Defined even when the line has no values ("windows libs").
            set("COSTACK_SRC__${name}__${key}"
                "${COSTACK_SRC__${name}__${key}}")
        else()
            message(FATAL_ERROR "costack: ${file}: \"${line}\": unknown key "
                                "\"${key}\"; cmake/CostackSources.cmake knows "
                                "platform ${_COSTACK_LIST_KEYS} and default "
                                "lines, and must learn this one")
        endif()
        list(APPEND names "${name}")
    endforeach()
    if(NOT backends)
        message(FATAL_ERROR "costack: ${file} describes no backend")
    endif()

    # Hand every variable set above to the caller.
    get_cmake_property(vars VARIABLES)
    foreach(v IN LISTS vars)
        if(v MATCHES "^COSTACK_SRC__")
            set("${v}" "${${v}}" PARENT_SCOPE)
        endif()
    endforeach()
    set(COSTACK_SRC_BACKENDS "${backends}" PARENT_SCOPE)
    set(COSTACK_SRC_FILE "${file}" PARENT_SCOPE)
endfunction()

# target_os as Rust spells it.
function(costack_target_os out)
    set(s "${CMAKE_SYSTEM_NAME}")
    if(s STREQUAL "Darwin")
        set(os macos)
    elseif(s STREQUAL "SunOS")
        set(os solaris)
    elseif(s STREQUAL "DragonFly")
        set(os dragonfly)
    else()
        # Linux, Windows, FreeBSD, NetBSD, OpenBSD, Android, iOS, Haiku...
        string(TOLOWER "${s}" os)
    endif()
    set(${out} "${os}" PARENT_SCOPE)
endfunction()

# target_arch as Rust spells it.
function(costack_target_arch out)
    set(p "${CMAKE_SYSTEM_PROCESSOR}")
    if(MSVC AND CMAKE_C_COMPILER_ARCHITECTURE_ID)
        # MSVC's CMAKE_SYSTEM_PROCESSOR names the host; the compiler's
        # architecture is the target's.
        set(p "${CMAKE_C_COMPILER_ARCHITECTURE_ID}")
    endif()
    string(TOLOWER "${p}" p)
    if(p MATCHES "^(x86_64|amd64|x64)$")
        set(arch x86_64)
    elseif(p MATCHES "^(aarch64|arm64)$")
        set(arch aarch64)
    elseif(p MATCHES "^(i[3-6]86|x86)$")
        set(arch x86)
    elseif(p MATCHES "^arm")
        set(arch arm)
    elseif(p MATCHES "^(ppc64|ppc64le|powerpc64|powerpc64le)$")
        set(arch powerpc64)
    elseif(p MATCHES "^(ppc|powerpc)$")
        set(arch powerpc)
    else()
        # riscv64, s390x, loongarch64, mips64... spelled alike.
        set(arch "${p}")
    endif()
    # A 32-bit build on a 64-bit system (gcc -m32 without a toolchain
    # file) keeps the host's processor name; the pointer size tells.
    if(CMAKE_SIZEOF_VOID_P EQUAL 4)
        if(arch STREQUAL "x86_64")
            set(arch x86)
        elseif(arch STREQUAL "aarch64")
            set(arch arm)
        endif()
    endif()
    set(${out} "${arch}" PARENT_SCOPE)
endfunction()

# target_family: the platform layers sources.txt knows are unix and
# windows.
function(costack_target_platform out)
    if(WIN32)
        set(${out} windows PARENT_SCOPE)
    elseif(UNIX)
        set(${out} unix PARENT_SCOPE)
    else()
        message(FATAL_ERROR "costack: ${CMAKE_SYSTEM_NAME} is neither Unix "
                            "nor Windows; the C core has no platform layer "
                            "for it")
    endif()
endfunction()

function(costack_sources_resolve backend)
    costack_target_os(os)
    costack_target_arch(arch)
    costack_target_platform(platform)
    set(target "${os}-${arch}")
    string(REPLACE ";" ", " known "${COSTACK_SRC_BACKENDS}")

    if(backend STREQUAL "")
        foreach(key IN ITEMS "${os}-${arch}" "${os}" "${platform}")
            if(DEFINED "COSTACK_SRC__default__${key}")
                set(backend "${COSTACK_SRC__default__${key}}")
                set(why "the default for ${key}")
                break()
            endif()
        endforeach()
        if(backend STREQUAL "")
            message(FATAL_ERROR "costack: ${COSTACK_SRC_FILE} names no "
                                "default backend for ${target} (${platform});"
                                " choose one with -DCOSTACK_BACKEND=... "
                                "(known: ${known})")
        endif()
    else()
        set(why "set by COSTACK_BACKEND")
    endif()

    if(NOT backend IN_LIST COSTACK_SRC_BACKENDS)
        message(FATAL_ERROR "costack: there is no backend \"${backend}\" "
                            "(known: ${known})")
    endif()
    set(p "${COSTACK_SRC__${backend}__platform}")
    set(archs "${COSTACK_SRC__${backend}__arch}")
    set(oses "${COSTACK_SRC__${backend}__os}")
    if(NOT p STREQUAL platform)
        message(FATAL_ERROR "costack: the ${backend} backend is for ${p}; "
                            "the target, ${target}, is ${platform}")
    endif()
    if(NOT "any" IN_LIST archs AND NOT arch IN_LIST archs)
        string(REPLACE ";" " and " archs "${archs}")
        message(FATAL_ERROR "costack: the ${backend} backend supports the "
                            "${archs} architectures, not ${arch} (building "
                            "for ${target})")
    endif()
    if(NOT "any" IN_LIST oses AND NOT os IN_LIST oses)
        string(REPLACE ";" ", " oses "${oses}")
        message(FATAL_ERROR "costack: the ${backend} backend supports "
                            "${oses}, not ${os} (building for ${target})")
    endif()

    # Files: the core's, the platform layer's, the backend's.  Two
    # backends' lists may share a file; it is compiled once.
    get_filename_component(csrc "${COSTACK_SRC_FILE}" DIRECTORY)
    set(sources "")
    set(has_asm FALSE)
    foreach(f IN LISTS COSTACK_SRC__core__sources
                       COSTACK_SRC__${platform}__sources
                       COSTACK_SRC__${backend}__sources)
        string(REPLACE "@ARCH@" "${arch}" f "${f}")
        list(APPEND sources "${csrc}/${f}")
        if(f MATCHES "\\.S$")
            set(has_asm TRUE)
        endif()
    endforeach()
    list(REMOVE_DUPLICATES sources)

    # Public headers are relative to include/, beside csrc/.
    get_filename_component(root "${csrc}" DIRECTORY)
    set(headers "")
    foreach(h IN LISTS COSTACK_SRC__core__headers)
        list(APPEND headers "${root}/include/${h}")
    endforeach()

    set(COSTACK_RESOLVED_BACKEND "${backend}" PARENT_SCOPE)
    set(COSTACK_RESOLVED_WHY "${why}" PARENT_SCOPE)
    set(COSTACK_RESOLVED_TARGET "${target}" PARENT_SCOPE)
    set(COSTACK_CORE_SOURCES "${sources}" PARENT_SCOPE)
    set(COSTACK_CORE_DEFINES "${COSTACK_SRC__${backend}__defines}" PARENT_SCOPE)
    set(COSTACK_CORE_HEADERS "${headers}" PARENT_SCOPE)
    set(COSTACK_CORE_LIBS "${COSTACK_SRC__${platform}__libs}" PARENT_SCOPE)
    set(COSTACK_CORE_HAS_ASM "${has_asm}" PARENT_SCOPE)
endfunction()
