// Arbitrary request bodies through the real API handler (fake broker,
// temporary store). Every request must get exactly one well-formed answer,
// and whatever the API accepts (202), the router must be able to parse: the
// two sides agree on the event format.
#include <nlohmann/json.hpp>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "api_service.hpp"
#include "events.hpp"

namespace {

class AcceptingPublisher final : public chat::Publisher {
 public:
  void publish(const std::string&, const std::string&,
               const std::string& payload, Done done) override {
    last_payload = payload;
    done(true);
  }
  bool available() const override { return true; }
  std::string last_payload;
};

struct Fixture {
  Fixture()
      : dir([] {
          char pattern[] = "/tmp/api-fuzz-XXXXXX";
          return std::string(mkdtemp(pattern));
        }()),
        store(chat::open_sqlite_store(dir + "/chat.db")),
        jwt(std::string(32, 's')),
        api(*store, jwt, publisher, registry, {}, options()) {
    api.create_demo_users();
    const auto user = store->user_by_name("user_a");
    user_id = user->id;
    bearer = "Bearer " + jwt.issue(user_id, time(nullptr));
  }
  ~Fixture() { std::filesystem::remove_all(dir); }
  static chat::ApiOptions options() {
    chat::ApiOptions o;
    o.password_iterations = 1000;
    return o;
  }

  std::string dir;
  std::unique_ptr<chat::Store> store;
  chat::JwtSigner jwt;
  AcceptingPublisher publisher;
  vigil::Registry registry;
  chat::ApiService api;
  std::string user_id;
  std::string bearer;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data,
                                      std::size_t size) {
  static Fixture fixture;
  const std::string input(reinterpret_cast<const char*>(data), size);
  // The first byte picks the route; the rest is the body, with the real
  // sender id substituted for "$ME" so the fuzzer can reach the 202 path.
  static const char* const kTargets[] = {
      "/v1/messages", "/v1/conversations/c/messages?limit=3&offset=1",
      "/v1/messages/m_1/read"};
  const char* target = kTargets[size > 0 ? data[0] % 3 : 0];
  std::string body = size > 0 ? input.substr(1) : input;
  for (auto at = body.find("$ME"); at != std::string::npos;
       at = body.find("$ME", at)) {
    body.replace(at, 3, fixture.user_id);
  }
  chat::Request req{target[4] == 'c' ? boost::beast::http::verb::get
                                     : boost::beast::http::verb::post,
                    target, 11};
  req.set(boost::beast::http::field::authorization, fixture.bearer);
  req.body() = body;
  req.prepare_payload();
  int answers = 0;
  unsigned status = 0;
  std::string answer;
  fixture.publisher.last_payload.clear();
  fixture.api.handle(std::move(req), [&](chat::Response res) {
    ++answers;
    status = res.result_int();
    answer = res.body();
  });
  if (answers != 1) std::abort();
  const auto parsed = nlohmann::json::parse(answer, nullptr, false);
  if (parsed.is_discarded() || !parsed.is_object()) std::abort();
  if (status == 202) {
    std::string why;
    if (!chat::parse_message_event(fixture.publisher.last_payload, why)) {
      std::abort();  // the API accepted what the router would dead-letter
    }
  }
  return 0;
}
