"""Conan 2 recipe for vigil, the header-only observability SDK.

The recipe lives in conan/ of vigil's repository and packages the tree it
sits in; see conan/README.md for how it is built and verified offline.
"""
import os
import re

from conan import ConanFile
from conan.tools.build import check_min_cppstd
from conan.tools.files import copy, load
from conan.tools.layout import basic_layout

required_conan_version = ">=2.0"


class VigilConan(ConanFile):
    name = "vigil"
    description = ("Low-overhead observability SDK: Prometheus metrics, an "
                   "embedded /metrics and health endpoint, Kafka consumer lag.")
    topics = ("metrics", "prometheus", "observability", "header-only")
    package_type = "header-library"
    settings = "os", "arch", "compiler", "build_type"
    # One option per optional component; the core (vigil::vigil) is always
    # there. Turning one off drops its requirements and its CMake target.
    options = {"http": [True, False], "kafka": [True, False]}
    default_options = {"http": True, "kafka": True}
    no_copy_source = True

    def _source_root(self):
        return os.path.join(self.recipe_folder, os.pardir)

    def set_version(self):
        # One source of truth: the version in the top-level CMakeLists.txt,
        # which vigilConfigVersion.cmake and version.hpp (checked by a test)
        # carry too.
        text = load(self, os.path.join(self._source_root(), "CMakeLists.txt"))
        match = re.search(r"project\(vigil\s+VERSION\s+([0-9.]+)", text)
        self.version = match.group(1)

    def export_sources(self):
        copy(self, "*.hpp", os.path.join(self._source_root(), "include"),
             os.path.join(self.export_sources_folder, "include"))

    def layout(self):
        basic_layout(self, src_folder=".")

    def requirements(self):
        # The headers include these, so consumers need them too
        # (transitive_headers). Ranges admit Debian 12's versions, which the
        # debian12 profile declares under [platform_requires].
        self.requires("prometheus-cpp/[>=1.0.1 <2]", transitive_headers=True)
        self.requires("fmt/[>=9.1 <11]", transitive_headers=True)
        if self.options.http:
            self.requires("boost/[>=1.74 <2]", transitive_headers=True)
            self.requires("zlib/[>=1.2.13 <2]", transitive_headers=True)
        if self.options.kafka:
            self.requires("librdkafka/[>=2.0.2 <3]", transitive_headers=True)

    def package_id(self):
        # Header-only: one package whatever the settings and options, since
        # the options change only package_info(), which runs for each consumer.
        self.info.clear()

    def validate(self):
        check_min_cppstd(self, 17)

    def package(self):
        copy(self, "*.hpp", os.path.join(self.source_folder, "include"),
             os.path.join(self.package_folder, "include"))

    def package_info(self):
        # Components and CMake names match vigil's own CMake package
        # (cmake/VigilInstall.cmake): find_package(vigil) and the targets
        # vigil::vigil, vigil::http and vigil::kafka.
        # tests/consumer/check_conan_recipe.py keeps the two in step.
        self.cpp_info.set_property("cmake_file_name", "vigil")
        self.cpp_info.bindirs = []
        self.cpp_info.libdirs = []

        core = self._component("vigil")
        self._link(core, "prometheus-cpp::prometheus-cpp-core",
                   ["prometheus-cpp-core"])
        self._link(core, "fmt::fmt", ["fmt"])
        if self.settings.os in ("Linux", "FreeBSD"):
            core.system_libs.append("pthread")

        if self.options.http:
            http = self._component("http")
            http.requires.append("vigil")
            self._link(http, "boost::headers", [])
            self._link(http, "zlib::zlib", ["z"])

        if self.options.kafka:
            kafka = self._component("kafka")
            kafka.requires.append("vigil")
            self._link(kafka, "librdkafka::rdkafka++", ["rdkafka++", "rdkafka"])

    def _component(self, name):
        component = self.cpp_info.components[name]
        component.set_property("cmake_target_name", f"vigil::{name}")
        component.bindirs = []
        component.libdirs = []
        return component

    def _link(self, component, requirement, system_libs):
        """Makes `component` use `requirement` ("package::component").

        A dependency the profile declares under [platform_requires] (as
        conan/profiles/debian12 does) is no Conan package: it has no targets
        to require, and CMakeDeps rejects a component requiring it
        (conan-io/conan#17348). Its headers are on the system's include path,
        so linking its libraries by name is all that is left to do.
        """
        package = requirement.split("::")[0]
        if package in self.dependencies.direct_host:
            component.requires.append(requirement)
        else:
            component.system_libs.extend(system_libs)
