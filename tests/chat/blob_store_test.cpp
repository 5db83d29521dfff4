#include "blob_store.hpp"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>

namespace {

namespace fs = std::filesystem;

class LocalBlobStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/chat-blobs-XXXXXX";
    ASSERT_NE(mkdtemp(pattern), nullptr);
    root_ = pattern;
    blobs_ = chat::open_local_blob_store(root_ + "/data");
  }
  void TearDown() override { fs::remove_all(root_); }

  /// Every regular file under the store, relative to it.
  std::vector<std::string> files() const {
    std::vector<std::string> out;
    for (const auto& entry :
         fs::recursive_directory_iterator(root_ + "/data")) {
      if (entry.is_regular_file()) {
        out.push_back(fs::relative(entry.path(), root_ + "/data").string());
      }
    }
    return out;
  }

  static std::string read_all(chat::ByteSource& source, std::uint64_t offset,
                              std::size_t size) {
    std::string out(size, '\0');
    std::size_t got = 0;
    while (got < size) {
      const std::size_t n =
          source.read_at(offset + got, out.data() + got, size - got);
      if (n == 0) break;
      got += n;
    }
    out.resize(got);
    return out;
  }

  std::string root_;
  std::unique_ptr<chat::BlobStore> blobs_;
};

TEST_F(LocalBlobStoreTest, CommittedBlobsCanBeReadAtAnyOffset) {
  auto writer = blobs_->create("files/c1/f_1");
  writer->write("hello ");
  writer->write("world");
  EXPECT_FALSE(blobs_->open("files/c1/f_1")) << "invisible until committed";
  writer->commit();
  writer.reset();
  const auto source = blobs_->open("files/c1/f_1");
  ASSERT_TRUE(source);
  EXPECT_EQ(source->size(), 11u);
  EXPECT_EQ(read_all(*source, 0, 11), "hello world");
  EXPECT_EQ(read_all(*source, 6, 100), "world");
  EXPECT_EQ(files(), std::vector<std::string>{"files/c1/f_1"});
  EXPECT_TRUE(blobs_->remove("files/c1/f_1"));
  EXPECT_FALSE(blobs_->remove("files/c1/f_1"));
  EXPECT_FALSE(blobs_->open("files/c1/f_1"));
}

TEST_F(LocalBlobStoreTest, AnUncommittedWriterLeavesNothing) {
  {
    auto writer = blobs_->create("files/c1/f_2");
    writer->write(std::string(100000, 'x'));
  }
  EXPECT_TRUE(files().empty());
  EXPECT_FALSE(blobs_->open("files/c1/f_2"));
}

TEST_F(LocalBlobStoreTest, KeysNeverLeaveTheRoot) {
  for (const char* key : {"/etc/passwd", "a//b", "", "files/c1/", "a/b\\c",
                          "a/b c", "files/\xC3\xA9"}) {
    EXPECT_THROW(blobs_->create(key), std::invalid_argument) << key;
    EXPECT_THROW(blobs_->open(key), std::invalid_argument) << key;
  }
  // Conversation ids may be "." or ".."; as key segments they are kept
  // inside the root under another name.
  for (const char* key : {"files/../f_3", "../../f_4", "./.hidden"}) {
    auto writer = blobs_->create(key);
    writer->write("dots");
    writer->commit();
    ASSERT_TRUE(blobs_->open(key)) << key;
  }
  auto stored = files();
  std::sort(stored.begin(), stored.end());
  EXPECT_EQ(stored, (std::vector<std::string>{"%2E./%2E./f_4", "%2E/%2Ehidden",
                                              "files/%2E./f_3"}));
  EXPECT_FALSE(fs::exists(root_ + "/f_3"));
  EXPECT_FALSE(fs::exists(root_ + "/f_4"));
}

TEST_F(LocalBlobStoreTest, PartialFilesOfWritersThatAreGoneGoAtOpening) {
  // A live writer's partial file (this process's) and a crashed one's.
  auto writer = blobs_->create("files/f_live");
  writer->write("in progress");
  const pid_t child = fork();
  if (child == 0) _exit(0);
  ASSERT_GT(child, 0);
  waitpid(child, nullptr, 0);  // gone: its partial files are debris
  const std::string dead = root_ + "/data/files/.f_dead." +
                           std::to_string(child) + ".AbCdEf";
  { std::ofstream(dead) << "half an upload"; }
  const std::string old_style = root_ + "/data/files/.f_old.XyZ123";
  { std::ofstream(old_style) << "before pids were in the name"; }
  ASSERT_EQ(files().size(), 3u);

  std::size_t removed = 0;
  auto reopened = chat::open_local_blob_store(root_ + "/data", &removed);
  EXPECT_EQ(removed, 2u);
  EXPECT_FALSE(fs::exists(dead));
  EXPECT_FALSE(fs::exists(old_style));
  // The running writer's file stays, and it still commits.
  ASSERT_EQ(files().size(), 1u);
  writer->commit();
  EXPECT_TRUE(reopened->open("files/f_live"));
}

TEST_F(LocalBlobStoreTest, AvailableBytesIsTheDisksFreeSpace) {
  const auto available = blobs_->available_bytes();
  EXPECT_GT(available, 0u);
  EXPECT_LE(available, fs::space(root_).capacity);
}

}  // namespace
