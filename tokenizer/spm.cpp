#include "tokenizer/spm.h"

#include <sentencepiece_processor.h>

#include <cctype>
#include <cstring>
#include <stdexcept>

namespace kiln {

namespace {

// Just enough of the protobuf wire format to write a sentencepiece ModelProto, whose
// generated header Debian does not ship.
class ProtoWriter {
public:
    void varint(uint64_t v) {
        while (v >= 0x80) {
            out_.push_back(static_cast<char>((v & 0x7f) | 0x80));
            v >>= 7;
        }
        out_.push_back(static_cast<char>(v));
    }
    void tag(uint32_t field, uint32_t wire_type) { varint((static_cast<uint64_t>(field) << 3) | wire_type); }
    void int_field(uint32_t field, int64_t v) {
        tag(field, 0);
        varint(static_cast<uint64_t>(v));  // negative ints take ten bytes, as protobuf's int32 does
    }
    void float_field(uint32_t field, float v) {
        tag(field, 5);
        char b[4];
        std::memcpy(b, &v, 4);
        out_.append(b, 4);
    }
    void bytes_field(uint32_t field, std::string_view v) {
        tag(field, 2);
        varint(v.size());
        out_.append(v);
    }
    const std::string& str() const { return out_; }

private:
    std::string out_;
};

// Field numbers from sentencepiece_model.proto. SentencePiece wants exactly one unknown
// piece: the vocabulary's unk id is that one, and any other piece typed unknown (Phi-3's
// converter types its padding so) becomes unused, which encoding never produces.
std::string model_proto(const SpmVocab& v) {
    constexpr int32_t kUnknown = 2, kUnused = 5;
    ProtoWriter model;
    for (size_t i = 0; i < v.pieces.size(); ++i) {
        ProtoWriter piece;
        piece.bytes_field(1, v.pieces[i]);
        piece.float_field(2, v.scores[i]);
        piece.int_field(3, static_cast<Token>(i) == v.unk ? kUnknown : v.types[i] == kUnknown ? kUnused : v.types[i]);
        model.bytes_field(1, piece.str());
    }
    ProtoWriter trainer;
    trainer.int_field(3, 2);  // model_type = BPE
    trainer.int_field(35, 1);  // byte_fallback
    trainer.int_field(40, v.unk);
    trainer.int_field(41, v.bos);
    trainer.int_field(42, v.eos);
    trainer.int_field(43, -1);  // pad_id
    model.bytes_field(2, trainer.str());
    ProtoWriter normalizer;
    normalizer.bytes_field(1, "identity");
    normalizer.int_field(3, v.add_space_prefix);
    normalizer.int_field(4, 0);  // remove_extra_whitespaces
    normalizer.int_field(5, 1);  // escape_whitespaces
    model.bytes_field(3, normalizer.str());
    return model.str();
}

class SpmTokenizer final : public Tokenizer {
public:
    SpmTokenizer(std::unique_ptr<sentencepiece::SentencePieceProcessor> sp, bool add_space_prefix, bool add_bos)
        : sp_(std::move(sp)), add_space_prefix_(add_space_prefix), add_bos_(add_bos) {
        const int n = sp_->GetPieceSize();
        texts_.resize(static_cast<size_t>(n));
        pieces_.resize(static_cast<size_t>(n));
        is_byte_.resize(static_cast<size_t>(n));
        for (int id = 0; id < n; ++id) {
            std::string piece = sp_->IdToPiece(id);
            std::string& text = texts_[static_cast<size_t>(id)];
            if (sp_->IsByte(id)) {
                is_byte_[static_cast<size_t>(id)] = true;
                text.assign(1, static_cast<char>(std::strtoul(piece.substr(3, 2).c_str(), nullptr, 16)));  // "<0xNN>"
            } else if (sp_->IsUnknown(id)) {
                text = " \xE2\x81\x87 ";  // SentencePiece's surface for <unk>: " ⁇ "
            } else if (!sp_->IsControl(id)) {
                for (size_t pos = 0; pos < piece.size();) {
                    if (piece.compare(pos, 3, "\xE2\x96\x81") == 0) {  // U+2581 stands for a space
                        text += ' ';
                        pos += 3;
                    } else {
                        text += piece[pos++];
                    }
                }
            }
            pieces_[static_cast<size_t>(id)] = std::move(piece);
        }
    }

    void encode_fragment(std::string_view text, std::vector<Token>& out) const override {
        std::vector<int> ids;
        const auto status = sp_->Encode(text, &ids);
        if (!status.ok()) throw std::runtime_error(std::string("tokenizer: ") + status.ToString());
        out.insert(out.end(), ids.begin(), ids.end());
    }

    const std::string& token_text(Token id) const override { return texts_.at(static_cast<size_t>(id)); }
    const std::string& token_piece(Token id) const override { return pieces_.at(static_cast<size_t>(id)); }
    bool is_byte(Token id) const override { return is_byte_.at(static_cast<size_t>(id)); }
    bool adds_space_prefix() const override { return add_space_prefix_; }
    size_t n_vocab() const override { return texts_.size(); }
    Token bos() const override { return sp_->bos_id(); }
    Token eos() const override { return sp_->eos_id(); }
    bool add_bos() const override { return add_bos_; }
    bool is_special(Token id) const override { return sp_->IsControl(id) || sp_->IsUnknown(id); }

private:
    std::unique_ptr<sentencepiece::SentencePieceProcessor> sp_;
    bool add_space_prefix_;
    bool add_bos_;
    std::vector<std::string> texts_;
    std::vector<std::string> pieces_;
    std::vector<bool> is_byte_;
};

}  // namespace

std::unique_ptr<Tokenizer> make_spm_tokenizer(const SpmVocab& vocab) {
    const size_t n = vocab.pieces.size();
    if (n == 0) throw std::runtime_error("tokenizer: empty vocabulary");
    if (vocab.scores.size() != n || vocab.types.size() != n)
        throw std::runtime_error("tokenizer: " + std::to_string(n) + " tokens but " + std::to_string(vocab.scores.size()) +
                    " scores and " + std::to_string(vocab.types.size()) + " token types");
    for (Token id : {vocab.unk, vocab.bos, vocab.eos})
        if (id < 0 || static_cast<size_t>(id) >= n)
            throw std::runtime_error("tokenizer: special token id " + std::to_string(id) + " is outside the vocabulary of " +
                        std::to_string(n));
    for (size_t i = 0; i < n; ++i) {
        if (vocab.types[i] < 1 || vocab.types[i] > 6)
            throw std::runtime_error("tokenizer: token " + std::to_string(i) + " has unknown type " + std::to_string(vocab.types[i]));
        if (vocab.types[i] == 6 && (vocab.pieces[i].size() != 6 || vocab.pieces[i].compare(0, 3, "<0x") != 0 ||
                                    !std::isxdigit(static_cast<unsigned char>(vocab.pieces[i][3])) ||
                                    !std::isxdigit(static_cast<unsigned char>(vocab.pieces[i][4])) || vocab.pieces[i][5] != '>'))
            throw std::runtime_error("tokenizer: byte token " + std::to_string(i) + " is not spelled <0xNN>");
    }
    auto sp = std::make_unique<sentencepiece::SentencePieceProcessor>();
    const auto status = sp->LoadFromSerializedProto(model_proto(vocab));
    if (!status.ok()) throw std::runtime_error(std::string("tokenizer: SentencePiece refused the vocabulary: ") + status.ToString());
    return std::make_unique<SpmTokenizer>(std::move(sp), vocab.add_space_prefix, vocab.add_bos);
}

std::unique_ptr<Tokenizer> load_spm_tokenizer(const std::string& path, bool add_bos) {
    auto sp = std::make_unique<sentencepiece::SentencePieceProcessor>();
    const auto status = sp->Load(path);
    if (!status.ok()) throw std::runtime_error(path + ": cannot load SentencePiece model: " + status.ToString());
    // SentencePiece exposes no add_dummy_prefix getter: a single word encodes with a leading ▁ exactly when it is on.
    std::vector<std::string> pieces;
    sp->Encode("a", &pieces).IgnoreError();
    const bool space_prefix = !pieces.empty() && pieces.front().rfind("\xE2\x96\x81", 0) == 0;
    return std::make_unique<SpmTokenizer>(std::move(sp), space_prefix, add_bos);
}

}  // namespace kiln
