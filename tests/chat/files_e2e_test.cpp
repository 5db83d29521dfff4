// The files API end to end: the broker, the API and a router as real
// processes on free loopback ports. Uploads stream through the API's socket
// into its data directory; downloads come back through presigned URLs.
#include <gtest/gtest.h>
#include <openssl/evp.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "jwt.hpp"
#include "process.hpp"
#include "signed_url.hpp"
#include "stack_client.hpp"

namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using chat_test::eventually;
using chat_test::HttpResponse;
using chat_test::Process;
using nlohmann::json;

const std::string kSecret = "files-e2e-test-secret-of-32-bytes!!";
const std::string kBoundary = "chat4all-test-boundary";

using chat_test::api_call;
using chat_test::User;

/// SHA-256 as lowercase hex, fed piece by piece.
class Sha256 {
 public:
  Sha256() : ctx_(EVP_MD_CTX_new()) {
    EVP_DigestInit_ex(ctx_.get(), EVP_sha256(), nullptr);
  }
  void update(std::string_view bytes) {
    EVP_DigestUpdate(ctx_.get(), bytes.data(), bytes.size());
  }
  std::string hex() {
    unsigned char sum[EVP_MAX_MD_SIZE];
    unsigned int size = 0;
    EVP_DigestFinal_ex(ctx_.get(), sum, &size);
    static constexpr char kHex[] = "0123456789abcdef";
    std::string out;
    for (unsigned int i = 0; i < size; ++i) {
      out += kHex[sum[i] >> 4];
      out += kHex[sum[i] & 15];
    }
    return out;
  }

 private:
  struct Free {
    void operator()(EVP_MD_CTX* ctx) const { EVP_MD_CTX_free(ctx); }
  };
  std::unique_ptr<EVP_MD_CTX, Free> ctx_;
};

/// Deterministic pseudo-random bytes (splitmix64), cheap enough to make a
/// gigabyte on the fly.
class Bytes {
 public:
  explicit Bytes(std::uint64_t seed) : state_(seed) {}
  std::string next(std::size_t size) {
    std::string out(size, '\0');
    for (std::size_t i = 0; i < size; i += 8) {
      std::uint64_t z = (state_ += 0x9E3779B97F4A7C15ULL);
      z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
      z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
      z ^= z >> 31;
      std::memcpy(out.data() + i, &z, std::min<std::size_t>(8, size - i));
    }
    return out;
  }

 private:
  std::uint64_t state_;
};

std::string form_head(const std::string& conversation,
                      const std::string& filename,
                      const std::string& content_type) {
  return "--" + kBoundary +
         "\r\nContent-Disposition: form-data; "
         "name=\"conversation_id\"\r\n\r\n" +
         conversation + "\r\n--" + kBoundary +
         "\r\nContent-Disposition: form-data; name=\"file\"; filename=\"" +
         filename + "\"\r\nContent-Type: " + content_type + "\r\n\r\n";
}

const std::string kFormTail = "\r\n--" + kBoundary + "--\r\n";

/// Every regular file under `root`, relative to it.
std::vector<std::string> files_under(const std::string& root) {
  std::vector<std::string> out;
  if (!fs::exists(root)) return out;
  for (const auto& entry : fs::recursive_directory_iterator(root)) {
    if (entry.is_regular_file()) {
      out.push_back(fs::relative(entry.path(), root).string());
    }
  }
  return out;
}

/// A /proc/<pid>/status field in KiB.
long status_kib(pid_t pid, const std::string& field) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(in, line);) {
    if (line.rfind(field + ":", 0) == 0) {
      return std::strtol(line.c_str() + field.size() + 1, nullptr, 10);
    }
  }
  return -1;
}

class Files : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = std::make_unique<chat_test::TempDir>();
    const std::string bin = CHAT_BIN_DIR;
    const std::string& d = dir_->path();
    brokers_ = chat_test::start_broker(broker_, bin, d);
    ASSERT_FALSE(brokers_.empty()) << chat_test::tail_of(d + "/broker.log");
    api_ = start_api("api", {});
    // A second API with a small upload limit, for the 413 tests.
    small_api_ = start_api("small-api", {"--max-upload-bytes", "1048576"});
    router_ = std::make_unique<Process>(
        std::vector<std::string>{bin + "/chat-router", "--brokers", brokers_,
                                 "--data-dir", d + "/api", "--metrics-port",
                                 "0", "--instance", "router-1"},
        d + "/router.log");
    ASSERT_TRUE(
        chat_test::wait_for_line(d + "/router.log", "endpoint_listening", 30s))
        << chat_test::tail_of(d + "/router.log");
    port_ = port_of("api");
    small_port_ = port_of("small-api");
    ASSERT_TRUE(port_ > 0 && small_port_ > 0);
    ASSERT_TRUE(chat_test::wait_ready(port_))
        << chat_test::tail_of(d + "/api.log");
    alice_ = login("user_a", "pass_a", port_);
    bob_ = login("user_b", "pass_b", port_);
  }

  static void TearDownTestSuite() {
    router_.reset();
    small_api_.reset();
    api_.reset();
    broker_.reset();
    dir_.reset();
  }

  static std::unique_ptr<Process> start_api(
      const std::string& name, const std::vector<std::string>& extra) {
    const std::string& d = dir_->path();
    return chat_test::start_api(CHAT_BIN_DIR, brokers_, d + "/" + name, kSecret,
                                d + "/" + name + ".log", extra);
  }

  static int port_of(const std::string& name) {
    return chat_test::listening_port(dir_->path() + "/" + name + ".log",
                                     "api_listening");
  }

  static std::string data_dir() { return dir_->path() + "/api"; }
  static std::string blob_dir() { return data_dir() + "/blobs"; }

  static User login(const std::string& name, const std::string& password,
                    int port) {
    return chat_test::login(port, kSecret, name, password);
  }

  static User new_user(const std::string& name) {
    return chat_test::new_user(port_, kSecret, name);
  }

  /// The group of alice and bob called `name` on the API at `port`, made
  /// on first use: only members may upload to a conversation.
  static std::string group(const std::string& name, int port = 0) {
    port = port ? port : port_;
    const std::string key = std::to_string(port) + "/" + name;
    if (const auto it = groups_.find(key); it != groups_.end()) {
      return it->second;
    }
    const User owner = port == port_ ? alice_ : login("user_a", "pass_a", port);
    const User other = port == port_ ? bob_ : login("user_b", "pass_b", port);
    const auto r = api_call(port, "POST", "/v1/conversations",
                            json{{"type", "group"},
                                 {"name", name},
                                 {"participant_ids", {other.id}}}
                                .dump(),
                            owner.token);
    EXPECT_TRUE(r && r->status == 201) << (r ? r->body : "no response");
    if (!r || r->status != 201) return name;
    return groups_[key] = json::parse(r->body)["conversation_id"];
  }

  static std::optional<HttpResponse> upload(
      const User& user, const std::string& conversation,
      const std::string& filename, const std::string& content, int port = 0,
      const std::string& content_type = "text/plain") {
    return chat_test::http_request(
        port ? port : port_, "POST", "/v1/files",
        form_head(conversation, filename, content_type) + content + kFormTail,
        {"Authorization: Bearer " + user.token,
         "Content-Type: multipart/form-data; boundary=" + kBoundary});
  }

  /// Uploads and returns the 201 body.
  static json uploaded(const User& user, const std::string& conversation,
                       const std::string& filename,
                       const std::string& content) {
    auto r = upload(user, conversation, filename, content);
    EXPECT_TRUE(r && r->status == 201) << (r ? r->body : "no response");
    return r && r->status == 201 ? json::parse(r->body) : json::object();
  }

  /// The download URL's target (path and query), or empty.
  static std::string download_target(const User& user,
                                     const std::string& file_id) {
    auto r = api_call(port_, "GET", "/v1/files/" + file_id + "/download", {},
                      user.token);
    if (!r || r->status != 200) return {};
    const json body = json::parse(r->body);
    const std::string url = body["download_url"];
    const std::string origin = "http://127.0.0.1";
    EXPECT_EQ(url.rfind(origin, 0), 0u) << url;
    EXPECT_EQ(body["expires_in"], 3600);
    return url.substr(url.find('/', origin.size()));
  }

  static inline std::unique_ptr<chat_test::TempDir> dir_;
  static inline std::string brokers_;
  static inline std::unique_ptr<Process> broker_;
  static inline std::unique_ptr<Process> api_;
  static inline std::unique_ptr<Process> small_api_;
  static inline std::unique_ptr<Process> router_;
  static inline int port_ = 0;
  static inline int small_port_ = 0;
  static inline User alice_;
  static inline User bob_;
  static inline std::map<std::string, std::string> groups_;
};

TEST_F(Files, UploadThenDownloadGivesTheSameBytesAndChecksum) {
  const std::string content = Bytes(1).next(1 << 20);
  Sha256 sha;
  sha.update(content);
  const std::string checksum = sha.hex();
  const json file =
      uploaded(alice_, group("files-roundtrip"), "photo.png", content);
  EXPECT_EQ(file["conversation_id"], group("files-roundtrip"));
  EXPECT_EQ(file["filename"], "photo.png");
  EXPECT_EQ(file["size"], content.size());
  EXPECT_EQ(file["content_type"], "text/plain");
  EXPECT_EQ(file["checksum"], checksum);
  EXPECT_TRUE(file.contains("uploaded_at"));
  const std::string file_id = file["file_id"];
  EXPECT_TRUE(fs::exists(blob_dir() + "/files/" + file_id));

  const std::string target = download_target(alice_, file_id);
  ASSERT_FALSE(target.empty());
  const auto r = chat_test::http_get(port_, target);  // no token needed
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->header("Content-Type"), "text/plain");
  EXPECT_EQ(r->header("Content-Length"), std::to_string(content.size()));
  EXPECT_EQ(r->header("Accept-Ranges"), "bytes");
  Sha256 downloaded;
  downloaded.update(r->body);
  EXPECT_EQ(downloaded.hex(), checksum);
  EXPECT_TRUE(r->body == content);
}

TEST_F(Files, RangesAreServed) {
  const std::string content = Bytes(2).next(10000);
  const json file = uploaded(alice_, group("files-range"), "r.bin", content);
  const std::string target = download_target(alice_, file["file_id"]);
  auto range = [&](const std::string& value) {
    return chat_test::http_request(port_, "GET", target, {},
                                   {"Range: " + value});
  };
  auto r = range("bytes=100-199");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 206);
  EXPECT_EQ(r->header("Content-Range"), "bytes 100-199/10000");
  EXPECT_EQ(r->header("Content-Length"), "100");
  EXPECT_TRUE(r->body == content.substr(100, 100));
  r = range("bytes=-10");
  EXPECT_EQ(r->status, 206);
  EXPECT_TRUE(r->body == content.substr(9990));
  r = range("bytes=9000-");
  EXPECT_EQ(r->status, 206);
  EXPECT_EQ(r->body.size(), 1000u);
  r = range("bytes=10000-");
  EXPECT_EQ(r->status, 416);
  EXPECT_EQ(r->header("Content-Range"), "bytes */10000");
  r = range("bytes=0-1,5-6");  // several ranges: the whole file instead
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body.size(), content.size());
}

TEST_F(Files, ExpiredOrTamperedUrlsAreForbidden) {
  const json file = uploaded(alice_, group("files-signed"), "s.txt", "secret");
  const std::string file_id = file["file_id"];
  const std::string target = download_target(alice_, file_id);
  ASSERT_EQ(chat_test::http_get(port_, target)->status, 200);

  const auto sig_at = target.find("signature=") + 10;
  std::string flipped = target;
  flipped[sig_at] = flipped[sig_at] == 'A' ? 'B' : 'A';
  const auto expires_at = target.find("expires=") + 8;
  std::string later = target;
  later[expires_at] = later[expires_at] == '9' ? '8' : '9';
  const json other = uploaded(alice_, group("files-signed"), "o.txt", "other");
  std::string other_file = target;
  other_file.replace(other_file.find(file_id), file_id.size(),
                     other["file_id"].get<std::string>());
  for (const std::string& bad :
       {flipped, later, other_file, target.substr(0, target.find('?')),
        target + "&x=1"}) {
    const auto r = chat_test::http_get(port_, bad);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 403) << bad;
    EXPECT_EQ(r->body.find("secret"), std::string::npos);
  }

  // The API derives its URL key from the JWT secret: a URL signed with it
  // is valid until its expiry, and forbidden from then on.
  const chat::UrlSigner signer(
      chat::JwtSigner(kSecret).derive_key("chat4all download URL v1"));
  const std::string path = "/v1/files/" + file_id + "/content";
  EXPECT_EQ(
      chat_test::http_get(port_, signer.sign(path, time(nullptr) + 60))->status,
      200);
  const auto expired =
      chat_test::http_get(port_, signer.sign(path, time(nullptr) - 1));
  EXPECT_EQ(expired->status, 403);
  EXPECT_NE(expired->body.find("expired"), std::string::npos);
}

TEST_F(Files, ClientFilenamesNeverBecomePaths) {
  const std::string conversation = group("files-traversal");
  std::vector<std::string> ids;
  for (const char* name :
       {"../../../../evil.sh", "..\\..\\evil.bat", "/etc/passwd", "..", ".",
        "a/../../b.txt", "ctl\x01\x7f.txt"}) {
    auto r = upload(alice_, conversation, name, "payload");
    ASSERT_TRUE(r && r->status == 201)
        << name << ": " << (r ? r->body : "no response");
    const json file = json::parse(r->body);
    const std::string stored = file["filename"];
    EXPECT_EQ(stored.find('/'), std::string::npos) << stored;
    EXPECT_EQ(stored.find('\\'), std::string::npos) << stored;
    EXPECT_NE(stored, "..");
    EXPECT_EQ(stored.find('\x01'), std::string::npos) << stored;
    ids.push_back(file["file_id"]);
  }
  EXPECT_EQ(json::parse(upload(alice_, conversation, "../../../../evil.sh", "x")
                            ->body)["filename"],
            "evil.sh");
  // On disk only files/<file_id> exist, whatever the names.
  const auto on_disk = files_under(blob_dir() + "/files");
  for (const auto& id : ids) {
    EXPECT_NE(std::find(on_disk.begin(), on_disk.end(), id), on_disk.end());
  }
  for (const auto& path : on_disk) {
    EXPECT_EQ(path.rfind("f_", 0), 0u) << path;
  }
  for (const auto& path : files_under(dir_->path())) {
    EXPECT_EQ(path.find("evil"), std::string::npos) << path;
    EXPECT_EQ(path.find("passwd"), std::string::npos) << path;
  }
  // The name reaches the download only as an encoded parameter.
  const auto r =
      chat_test::http_get(port_, download_target(alice_, ids.front()));
  EXPECT_EQ(r->header("Content-Disposition"),
            "attachment; filename*=UTF-8''evil.sh");
}

TEST_F(Files, OnlyMembersMayUploadOrDownload) {
  const std::string conversation = group("files-private");
  const json file = uploaded(alice_, conversation, "mine.txt", "private");
  const User mallory = new_user("mallory_files");
  const auto stored = files_under(blob_dir() + "/files").size();
  // To a stranger the conversation and its files do not exist.
  auto r = upload(mallory, conversation, "x.txt", "intruder");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 404);
  r = api_call(port_, "GET",
               "/v1/files/" + file["file_id"].get<std::string>() + "/download",
               {}, mallory.token);
  EXPECT_EQ(r->status, 404);
  EXPECT_EQ(files_under(blob_dir() + "/files").size(), stored);
  // Without a token nothing happens at all.
  r = chat_test::http_request(
      port_, "POST", "/v1/files",
      form_head("files-private", "x", "text/plain") + "x" + kFormTail,
      {"Content-Type: multipart/form-data; boundary=" + kBoundary});
  EXPECT_EQ(r->status, 401);
  r = api_call(port_, "GET",
               "/v1/files/" + file["file_id"].get<std::string>() + "/download");
  EXPECT_EQ(r->status, 401);
  // The fields may come in either order (curl and k6 send the file first),
  // but the form must name a conversation.
  const std::string file_part =
      "--" + kBoundary +
      "\r\nContent-Disposition: form-data; name=\"file\"; "
      "filename=\"a\"\r\n\r\nx\r\n";
  const std::vector<std::string> multipart = {
      "Authorization: Bearer " + alice_.token,
      "Content-Type: multipart/form-data; boundary=" + kBoundary};
  r = chat_test::http_request(
      port_, "POST", "/v1/files",
      file_part + "--" + kBoundary +
          "\r\nContent-Disposition: form-data; name=\"conversation_id\""
          "\r\n\r\n" +
          conversation + kFormTail,
      multipart);
  EXPECT_EQ(r->status, 201) << r->body;
  r = chat_test::http_request(port_, "POST", "/v1/files",
                              file_part + "--" + kBoundary + "--\r\n",
                              multipart);
  EXPECT_EQ(r->status, 400);
  r = chat_test::http_request(port_, "POST", "/v1/files", "{}",
                              {"Authorization: Bearer " + alice_.token,
                               "Content-Type: application/json"});
  EXPECT_EQ(r->status, 415);
}

TEST_F(Files, MessagesCarryFilesOfTheirConversation) {
  const std::string conversation = group("files-messages");
  const json file = uploaded(alice_, conversation, "doc.pdf", "%PDF-1.4");
  json message = {{"conversation_id", conversation},
                  {"sender_id", alice_.id},
                  {"recipient_id", bob_.id},
                  {"content", "see attached"},
                  {"file_id", "f_does_not_exist"}};
  auto r =
      api_call(port_, "POST", "/v1/messages", message.dump(), alice_.token);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
  const json elsewhere = uploaded(alice_, group("files-elsewhere"), "e.txt", "e");
  message["file_id"] = elsewhere["file_id"];
  EXPECT_EQ(
      api_call(port_, "POST", "/v1/messages", message.dump(), alice_.token)
          ->status,
      400);
  message["file_id"] = file["file_id"];
  r = api_call(port_, "POST", "/v1/messages", message.dump(), alice_.token);
  ASSERT_EQ(r->status, 202) << r->body;

  // Once stored, the message lists the file, and the recipient (a member)
  // may download it.
  json history;
  ASSERT_TRUE(eventually(
      [&] {
        auto h = api_call(port_, "GET",
                          "/v1/conversations/" + conversation + "/messages", {},
                          bob_.token);
        if (!h || h->status != 200) return false;
        history = json::parse(h->body);
        return history["messages"].size() == 1;
      },
      30s));
  const json& listed = history["messages"][0];
  EXPECT_EQ(listed["file_id"], file["file_id"]);
  EXPECT_EQ(listed["file"]["filename"], "doc.pdf");
  EXPECT_EQ(listed["file"]["size"], 8);
  EXPECT_EQ(listed["file"]["checksum"], file["checksum"]);
  const auto bytes =
      chat_test::http_get(port_, download_target(bob_, file["file_id"]));
  EXPECT_EQ(bytes->body, "%PDF-1.4");
}

TEST_F(Files, UploadsOverTheLimitAre413AndLeaveNothing) {
  const std::string small_dir = dir_->path() + "/small-api/blobs/files";
  const User user = login("user_a", "pass_a", small_port_);
  // Announced too large: refused before any byte is read.
  auto r = chat_test::http_request_streamed(
      small_port_, "POST", "/v1/files",
      {"Authorization: Bearer " + user.token,
       "Content-Type: multipart/form-data; boundary=" + kBoundary,
       "Content-Length: 2000000"},
      [](std::string&) { return false; }, 10s);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 413);
  // Chunked, so the server finds out while the file is being written.
  Bytes bytes(3);
  int pieces = 0;
  const std::string head =
      form_head(group("files-big", small_port_), "big.bin", "text/plain");
  r = chat_test::http_request_streamed(
      small_port_, "POST", "/v1/files",
      {"Authorization: Bearer " + user.token,
       "Content-Type: multipart/form-data; boundary=" + kBoundary,
       "Transfer-Encoding: chunked"},
      [&](std::string& piece) {
        if (pieces > 40) return false;
        std::string data = pieces == 0 ? head : bytes.next(64 * 1024);
        if (pieces == 40) data = kFormTail;
        ++pieces;
        char size[32];
        std::snprintf(size, sizeof size, "%zx\r\n", data.size());
        piece = size + data + "\r\n" + (pieces > 40 ? "0\r\n\r\n" : "");
        return true;
      },
      10s);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 413) << r->body;
  EXPECT_TRUE(files_under(small_dir).empty());
  // The same file under the limit is stored.
  EXPECT_EQ(upload(user, group("files-big", small_port_), "ok.bin",
                   bytes.next(1000), small_port_)
                ->status,
            201);
  EXPECT_EQ(files_under(small_dir).size(), 1u);
}

TEST_F(Files, AGigabyteUploadDoesNotGrowMemory) {
  constexpr std::uint64_t kFileBytes = 1ULL << 30;
  constexpr std::size_t kPiece = 1 << 20;
  const pid_t pid = api_->pid();
  // Reset the peak (VmHWM) to the current size where the kernel allows it;
  // otherwise the peak so far is the baseline.
  { std::ofstream("/proc/" + std::to_string(pid) + "/clear_refs") << "5"; }
  const long before_kib =
      std::max(status_kib(pid, "VmRSS"), status_kib(pid, "VmHWM"));
  ASSERT_GT(before_kib, 0);

  const std::string head =
      form_head(group("files-gigabyte"), "big.bin", "application/octet-stream");
  const std::uint64_t length = head.size() + kFileBytes + kFormTail.size();
  Bytes bytes(4);
  Sha256 sha;
  std::uint64_t sent = 0;
  bool head_sent = false;
  bool tail_sent = false;
  const auto r = chat_test::http_request_streamed(
      port_, "POST", "/v1/files",
      {"Authorization: Bearer " + alice_.token,
       "Content-Type: multipart/form-data; boundary=" + kBoundary,
       "Content-Length: " + std::to_string(length)},
      [&](std::string& piece) {
        if (!head_sent) {
          piece = head;
          head_sent = true;
        } else if (sent < kFileBytes) {
          piece = bytes.next(kPiece);
          sha.update(piece);
          sent += piece.size();
        } else if (!tail_sent) {
          piece = kFormTail;
          tail_sent = true;
        } else {
          return false;
        }
        return true;
      },
      120s);
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 201) << r->body;
  const json file = json::parse(r->body);
  EXPECT_EQ(file["size"], kFileBytes);
  EXPECT_EQ(file["checksum"], sha.hex());

  const long peak_kib = status_kib(pid, "VmHWM");
  const long growth_kib = peak_kib - before_kib;
  std::printf(
      "chat-api memory: %ld KiB before, peak %ld KiB during a 1 GiB "
      "upload (growth %ld KiB)\n",
      before_kib, peak_kib, growth_kib);
  EXPECT_LT(growth_kib, 64 * 1024);
  // The gigabyte is not needed any more.
  fs::remove(blob_dir() + "/files/" + file["file_id"].get<std::string>());
}

}  // namespace
