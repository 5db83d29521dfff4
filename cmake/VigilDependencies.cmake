# Every dependency comes from Debian packages (scripts/setup.sh installs them);
# nothing is downloaded at build time.
set(THREADS_PREFER_PTHREAD_FLAG ON)
find_package(Threads REQUIRED)
find_package(prometheus-cpp CONFIG REQUIRED)
find_package(fmt REQUIRED)
