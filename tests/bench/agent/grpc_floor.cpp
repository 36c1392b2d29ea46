// The memory floor of the agent's stack, for the idle-RSS benchmark: a process that links the
// same shared gRPC, protobuf and OpenSSL libraries and does the least the agent does with them
// (a gRPC server on a unix socket, one TLS client channel trying to connect), then idles.
//   edge-grpc-floor SOCKET SECONDS
#include <grpcpp/generic/async_generic_service.h>
#include <grpcpp/grpcpp.h>

#include <chrono>
#include <cstdlib>
#include <iostream>
#include <thread>

int main(int argc, char** argv) {
  if (argc != 3) {
    std::cerr << "usage: edge-grpc-floor SOCKET SECONDS\n";
    return 2;
  }
  grpc::AsyncGenericService service;
  grpc::ServerBuilder builder;
  builder.AddListeningPort(std::string("unix:") + argv[1], grpc::InsecureServerCredentials());
  builder.RegisterAsyncGenericService(&service);
  auto cq = builder.AddCompletionQueue();
  auto server = builder.BuildAndStart();
  if (!server) {
    std::cerr << "edge-grpc-floor: cannot listen on " << argv[1] << "\n";
    return 1;
  }
  auto channel = grpc::CreateChannel("127.0.0.1:9", grpc::SslCredentials(grpc::SslCredentialsOptions()));
  channel->GetState(/*try_to_connect=*/true);
  std::this_thread::sleep_for(std::chrono::seconds(std::atoi(argv[2])));
  server->Shutdown();
  cq->Shutdown();
  return 0;
}
