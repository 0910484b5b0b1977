# CMake generated Testfile for 
# Source directory: /work/main/tests
# Build directory: /work/main/build-helper-a/tests
# 
# This file includes the relevant testing commands required for 
# testing this directory and lists subdirectories to be tested as well.
include("/work/main/build-helper-a/tests/tensorjit_tests[1]_include.cmake")
add_test([=[numpy_differential]=] "/usr/bin/python3" "-m" "pytest" "-q" "/work/main/tests/tools/test_against_numpy.py")
set_tests_properties([=[numpy_differential]=] PROPERTIES  ENVIRONMENT "TJ_CLI=/work/main/build-helper-a/bin/tensorjit" WORKING_DIRECTORY "/work/main" _BACKTRACE_TRIPLES "/work/main/tests/CMakeLists.txt;26;add_test;/work/main/tests/CMakeLists.txt;0;")
