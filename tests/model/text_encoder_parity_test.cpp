// CLIPTextModel parity with transformers on the test pipelines' text encoders.
#include <catch2/catch.hpp>

#include "model/text/text_encoder.hpp"
#include "model/text/tokenizer.hpp"
#include "tests/support/reference.hpp"

using namespace muse::model;

TEST_CASE("text encoder parity with transformers", "[parity][text_encoder]") {
  for (const std::string name : {"tiny-sd", "tiny-sd2"}) {
    if (!testing::have_reference(name)) {
      WARN("reference data for " << name << " absent");
      continue;
    }
    INFO(name);
    const auto ref = testing::reference(name, "text_encoder");
    const auto ids = ref.get("input_ids");
    // The tokenizer gives the same ids for the reference prompts.
    auto tok = clip_tokenizer::load(testing::data_dir() + "/" + name + "/tokenizer");
    const auto prompts =
        testing::metadata().at("pipelines").at(name).at("text_encoder").at("prompts");
    for (size_t i = 0; i < prompts.size(); ++i) {
      auto expected = ids[static_cast<int64_t>(i)].contiguous();
      CHECK(tok.encode(prompts[i].get<std::string>()) ==
            std::vector<int64_t>(expected.data_ptr<int64_t>(),
                                 expected.data_ptr<int64_t>() + expected.numel()));
    }
    auto model = load_text_encoder(testing::data_dir() + "/" + name + "/text_encoder", torch::kCPU,
                                   torch::kFloat32);
    torch::NoGradGuard no_grad;
    testing::check_close(model->forward(ids), ref.get("last_hidden_state"),
                         name + " last_hidden_state");
  }
}
