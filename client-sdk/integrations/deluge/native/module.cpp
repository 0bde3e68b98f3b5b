// deluge_piecepay._native: the boost.python module through which the Deluge plugin reaches Deluge's own
// libtorrent session. Python's `libtorrent.session` (Debian's python3-libtorrent) wraps an lt::session;
// boost.python hands us that object by reference (both modules share libboost_python311's converter
// registry and libtorrent-rasterbar's one copy of the session), so payments are added to the very
// session Deluge downloads and seeds with.
//
// Every call that waits on libtorrent's network thread or on the agent releases the GIL: Deluge's
// alert handling runs Python on other threads, and holding the GIL across a blocking call could stall it.
#include <boost/python.hpp>

#include <mutex>
#include <shared_mutex>
#include <type_traits>

#include <libtorrent/session.hpp>
#include <libtorrent/settings_pack.hpp>
#include <libtorrent/version.hpp>

#include "error.hpp"
#include "payments.hpp"

namespace bp = boost::python;
using piecepay::deluge::Error;
using piecepay::deluge::Payments;

namespace {

PyObject* error_type = nullptr;

// Raises `_native.Error(code, message)`: the plugin turns it into its own error with the same code.
void translate(const Error& e) {
  bp::object args = bp::make_tuple(e.code(), std::string(e.what()));
  PyErr_SetObject(error_type, args.ptr());
}

class WithoutGil {
 public:
  WithoutGil() : state_(PyEval_SaveThread()) {}
  ~WithoutGil() { PyEval_RestoreThread(state_); }
  WithoutGil(const WithoutGil&) = delete;
  WithoutGil& operator=(const WithoutGil&) = delete;

 private:
  PyThreadState* state_;
};

lt::session& session_of(const bp::object& py) {
  bp::extract<lt::session&> session(py);
  if (!session.check()) {
    const std::string type = bp::extract<std::string>(py.attr("__class__").attr("__qualname__"));
    throw Error("native_session",
                "expected Deluge's libtorrent.session (python3-libtorrent built for libtorrent " LIBTORRENT_VERSION
                "), got a " +
                    type);
  }
  return session();
}

// Proves the session reached from C++ is Deluge's: the port it listens on, as libtorrent reports it.
bp::dict check_session(const bp::object& py) {
  lt::session& session = session_of(py);
  unsigned short port = 0;
  {
    WithoutGil unlocked;
    port = session.listen_port();
  }
  bp::dict out;
  out["listen_port"] = port;
  out["libtorrent"] = LIBTORRENT_VERSION;
  out["payments"] = piecepay::deluge::payments_backend();
  return out;
}

// libtorrent's hashing threads in the session now: what piecepay::torrent::attach raised them to while
// payments run, or what they were put back to (get_status shows it).
int hashing_threads(const bp::object& py) {
  lt::session& session = session_of(py);
  WithoutGil unlocked;
  return session.get_settings().get_int(lt::settings_pack::hashing_threads);
}

// The Python face of a running Payments. Calls may come from several threads at once (Deluge's reactor
// and its thread pool): they share the lock, stop() takes it alone, so it waits for the calls in flight
// and none starts on a stopped agent. stop() is idempotent and also runs on garbage collection.
class Handle {
 public:
  explicit Handle(std::unique_ptr<Payments> p) : payments_(std::move(p)) {}
  ~Handle() { stop(); }

  bp::dict totals() {
    const auto all = call([](Payments& p) { return p.totals(); });
    bp::dict out;
    for (const auto& [id, t] : all) {
      bp::dict row;
      row["spent"] = t.spent;
      row["earned"] = t.earned;
      row["pending"] = t.pending;
      row["peers_paying"] = t.peers_paying;
      row["peers_paid"] = t.peers_paid;
      out[id] = row;
    }
    return out;
  }

  bp::dict wallet() {
    const auto w = call([](Payments& p) { return p.wallet(); });
    bp::dict out;
    out["address"] = w.address;
    out["token_balance"] = w.token_balance;
    out["free"] = w.free;
    out["locked"] = w.locked;
    return out;
  }

  std::string withdraw(const std::string& amount) {
    return call([&](Payments& p) { return p.withdraw(amount); });
  }

  bp::list events() {
    const auto all = call([](Payments& p) { return p.events(); });
    bp::list out;
    for (const auto& event : all) out.append(event);
    return out;
  }

  std::uint32_t close_all() {
    return call([](Payments& p) { return p.close_all(); });
  }

  void stop() {
    std::unique_ptr<WithoutGil> unlocked;
    if (PyGILState_Check()) unlocked = std::make_unique<WithoutGil>();
    std::unique_lock lock(mutex_);
    if (payments_) {
      payments_->stop();
      payments_.reset();
    }
  }

 private:
  template <class F>
  std::invoke_result_t<F, Payments&> call(F f) {
    WithoutGil unlocked;
    std::shared_lock lock(mutex_);
    if (!payments_) throw Error("not_running", "payments were stopped");
    return f(*payments_);
  }

  std::shared_mutex mutex_;
  std::unique_ptr<Payments> payments_;
};

std::shared_ptr<Handle> start(const bp::object& py_session, const std::string& config_path,
                              const std::string& password) {
  lt::session& session = session_of(py_session);
  std::unique_ptr<Payments> p;
  {
    WithoutGil unlocked;
    p = piecepay::deluge::start_payments(session, config_path, password);
  }
  return std::make_shared<Handle>(std::move(p));
}

}  // namespace

BOOST_PYTHON_MODULE(_native) {
  bp::object module = bp::scope();
  error_type = PyErr_NewExceptionWithDoc("deluge_piecepay._native.Error",
                                         "A refusal of the native module: args are (code, message).", nullptr, nullptr);
  bp::incref(error_type);
  module.attr("Error") = bp::object(bp::handle<>(bp::borrowed(error_type)));
  bp::register_exception_translator<Error>(&translate);

  module.attr("LIBTORRENT_VERSION") = LIBTORRENT_VERSION;
  bp::def("check_session", &check_session);
  bp::def("hashing_threads", &hashing_threads);
  bp::def("start", &start);
  bp::class_<Handle, std::shared_ptr<Handle>, boost::noncopyable>("Payments", bp::no_init)
      .def("totals", &Handle::totals)
      .def("wallet", &Handle::wallet)
      .def("withdraw", &Handle::withdraw)
      .def("events", &Handle::events)
      .def("close_all", &Handle::close_all)
      .def("stop", &Handle::stop);
}
