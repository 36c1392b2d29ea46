#include "tests/unit/serve/oip_wire.h"

#include <catch2/catch.hpp>
#include <chrono>
#include <cstring>
#include <future>

namespace edge::serve::wire {

namespace {

constexpr int kVarint = 0;
constexpr int kFixed64 = 1;
constexpr int kDelimited = 2;
constexpr int kFixed32 = 5;

uint64_t ReadVarint(std::string_view in, size_t& pos) {
  uint64_t value = 0;
  for (int shift = 0; shift < 64; shift += 7) {
    REQUIRE(pos < in.size());
    const auto byte = static_cast<uint8_t>(in[pos++]);
    value |= uint64_t{byte & 0x7fu} << shift;
    if ((byte & 0x80u) == 0) return value;
  }
  FAIL("varint longer than 10 bytes");
  return 0;
}

std::string Str(const Field& f) { return std::string(f.bytes); }

// A repeated int64 arrives packed (one length-delimited field) or as one varint per element.
void AppendInt64s(const Field& f, std::vector<int64_t>& out) {
  if (f.wire_type == kVarint) {
    out.push_back(static_cast<int64_t>(f.varint));
    return;
  }
  size_t pos = 0;
  while (pos < f.bytes.size()) out.push_back(static_cast<int64_t>(ReadVarint(f.bytes, pos)));
}

void AppendFloats(const Field& f, std::vector<float>& out) {
  auto push = [&](uint32_t bits) {
    float v;
    std::memcpy(&v, &bits, 4);
    out.push_back(v);
  };
  if (f.wire_type == kFixed32) {
    push(f.fixed32);
    return;
  }
  REQUIRE(f.bytes.size() % 4 == 0);
  for (size_t i = 0; i < f.bytes.size(); i += 4) {
    uint32_t bits;
    std::memcpy(&bits, f.bytes.data() + i, 4);
    push(bits);
  }
}

TensorMetadata DecodeTensorMetadata(std::string_view body) {
  TensorMetadata t;
  for (const Field& f : Parse(body)) {
    if (f.number == 1) t.name = Str(f);
    if (f.number == 2) t.datatype = Str(f);
    if (f.number == 3) AppendInt64s(f, t.shape);
  }
  return t;
}

std::string EncodeInput(const InputTensor& t) {
  Writer w;
  w.Bytes(1, t.name).Bytes(2, t.datatype);
  std::vector<uint64_t> shape(t.shape.begin(), t.shape.end());
  w.PackedVarints(3, shape);
  Writer contents;
  if (!t.ints.empty()) {
    std::vector<uint64_t> v;
    // int32 is encoded as a sign-extended varint, as protobuf does.
    for (int32_t x : t.ints) v.push_back(static_cast<uint64_t>(static_cast<int64_t>(x)));
    contents.PackedVarints(2, v);
  }
  if (!t.uints.empty()) contents.PackedVarints(4, std::vector<uint64_t>(t.uints.begin(), t.uints.end()));
  if (!t.fp32.empty()) contents.PackedFloats(6, t.fp32);
  if (!t.fp64.empty()) {
    std::string packed;
    for (double d : t.fp64) packed.append(reinterpret_cast<const char*>(&d), 8);
    contents.Bytes(7, packed);
  }
  if (!contents.str().empty()) w.Bytes(5, contents.str());
  return w.str();
}

}  // namespace

void Writer::Raw(uint64_t v) {
  while (v >= 0x80) {
    out_.push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out_.push_back(static_cast<char>(v));
}

Writer& Writer::Varint(int field, uint64_t value) {
  Raw(static_cast<uint64_t>(field) << 3 | kVarint);
  Raw(value);
  return *this;
}

Writer& Writer::Bytes(int field, std::string_view bytes) {
  Raw(static_cast<uint64_t>(field) << 3 | kDelimited);
  Raw(bytes.size());
  out_.append(bytes);
  return *this;
}

Writer& Writer::PackedVarints(int field, const std::vector<uint64_t>& values) {
  Writer inner;
  for (uint64_t v : values) inner.Raw(v);
  return Bytes(field, inner.out_);
}

Writer& Writer::PackedFloats(int field, const std::vector<float>& values) {
  return Bytes(field, RawFromFloats(values));
}

std::vector<Field> Parse(std::string_view in) {
  std::vector<Field> fields;
  size_t pos = 0;
  while (pos < in.size()) {
    const uint64_t key = ReadVarint(in, pos);
    Field f;
    f.number = static_cast<int>(key >> 3);
    f.wire_type = static_cast<int>(key & 7);
    switch (f.wire_type) {
      case kVarint: f.varint = ReadVarint(in, pos); break;
      case kFixed64: REQUIRE(pos + 8 <= in.size()); pos += 8; break;
      case kFixed32:
        REQUIRE(pos + 4 <= in.size());
        std::memcpy(&f.fixed32, in.data() + pos, 4);
        pos += 4;
        break;
      case kDelimited: {
        const uint64_t len = ReadVarint(in, pos);
        REQUIRE(pos + len <= in.size());
        f.bytes = in.substr(pos, len);
        pos += len;
        break;
      }
      default: FAIL("unexpected wire type " << f.wire_type);
    }
    fields.push_back(f);
  }
  return fields;
}

std::string Encode(const InferRequest& r) {
  Writer w;
  if (!r.model_name.empty()) w.Bytes(1, r.model_name);
  if (!r.model_version.empty()) w.Bytes(2, r.model_version);
  if (!r.id.empty()) w.Bytes(3, r.id);
  for (const auto& input : r.inputs) w.Bytes(5, EncodeInput(input));
  for (const auto& name : r.requested_outputs) w.Bytes(6, Writer().Bytes(1, name).str());
  for (const auto& raw : r.raw_input_contents) w.Bytes(7, raw);
  return w.str();
}

std::string EncodeNameVersion(const std::string& name, const std::string& version) {
  Writer w;
  w.Bytes(1, name);
  if (!version.empty()) w.Bytes(2, version);
  return w.str();
}

InferResponse DecodeInferResponse(std::string_view body) {
  InferResponse r;
  for (const Field& f : Parse(body)) {
    switch (f.number) {
      case 1: r.model_name = Str(f); break;
      case 2: r.model_version = Str(f); break;
      case 3: r.id = Str(f); break;
      case 5: {
        OutputTensor t;
        for (const Field& g : Parse(f.bytes)) {
          if (g.number == 1) t.name = Str(g);
          if (g.number == 2) t.datatype = Str(g);
          if (g.number == 3) AppendInt64s(g, t.shape);
          if (g.number == 5) {
            for (const Field& c : Parse(g.bytes)) {
              if (c.number == 6) AppendFloats(c, t.fp32);
            }
          }
        }
        r.outputs.push_back(std::move(t));
        break;
      }
      case 6: r.raw_output_contents.push_back(Str(f)); break;
      default: break;
    }
  }
  return r;
}

ModelMetadata DecodeModelMetadata(std::string_view body) {
  ModelMetadata m;
  for (const Field& f : Parse(body)) {
    if (f.number == 1) m.name = Str(f);
    if (f.number == 2) m.versions.push_back(Str(f));
    if (f.number == 3) m.platform = Str(f);
    if (f.number == 4) m.inputs.push_back(DecodeTensorMetadata(f.bytes));
    if (f.number == 5) m.outputs.push_back(DecodeTensorMetadata(f.bytes));
  }
  return m;
}

ServerMetadata DecodeServerMetadata(std::string_view body) {
  ServerMetadata m;
  for (const Field& f : Parse(body)) {
    if (f.number == 1) m.name = Str(f);
    if (f.number == 2) m.version = Str(f);
    if (f.number == 3) m.extensions.push_back(Str(f));
  }
  return m;
}

bool DecodeBoolField1(std::string_view body) {
  for (const Field& f : Parse(body)) {
    if (f.number == 1 && f.wire_type == kVarint) return f.varint != 0;
  }
  return false;  // proto3 leaves a false bool off the wire
}

std::vector<float> FloatsFromRaw(const std::string& raw) {
  REQUIRE(raw.size() % 4 == 0);
  std::vector<float> out(raw.size() / 4);
  std::memcpy(out.data(), raw.data(), raw.size());
  return out;
}

std::string RawFromFloats(const std::vector<float>& values) {
  return std::string(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(float));
}

Client::Client(const std::string& target) {
  grpc::ChannelArguments args;
  args.SetMaxSendMessageSize(-1);  // so the server, not the client, refuses oversized requests
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  channel_ = grpc::CreateCustomChannel(target, grpc::InsecureChannelCredentials(), args);
  stub_ = std::make_unique<grpc::GenericStub>(channel_);
}

Reply Client::Call(const std::string& method, const std::string& body) {
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
  grpc::Slice slice(body);
  grpc::ByteBuffer request(&slice, 1);
  grpc::ByteBuffer response;
  std::promise<grpc::Status> done;
  stub_->UnaryCall(&ctx, "/inference.GRPCInferenceService/" + method, grpc::StubOptions(), &request, &response,
                   [&](grpc::Status s) { done.set_value(std::move(s)); });
  Reply reply;
  reply.status = done.get_future().get();
  if (reply.status.ok()) {
    std::vector<grpc::Slice> slices;
    // No Catch2 assertion here: the swap test calls this from several threads.
    if (!response.Dump(&slices).ok()) reply.status = grpc::Status(grpc::StatusCode::DATA_LOSS, "unreadable reply");
    for (const auto& s : slices) reply.body.append(reinterpret_cast<const char*>(s.begin()), s.size());
  }
  return reply;
}

}  // namespace edge::serve::wire
