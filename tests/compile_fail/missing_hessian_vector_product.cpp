// Must not compile: asking for Hessian-vector products of an energy that gives none (the checker names the member).
#include <ebm/ebm.hpp>

#include <span>

struct gradient_only {
    struct workspace {};
    [[nodiscard]] ebm::index dimension() const { return 1; }
    [[nodiscard]] workspace make_workspace(ebm::index) const { return {}; }
    void energy(ebm::const_batch_view, std::span<float>, workspace&) const {}
    void energy_and_gradient(ebm::const_batch_view, std::span<float>, ebm::batch_view, workspace&) const {}
};
static_assert(ebm::energy_function<gradient_only>);
static_assert(ebm::check_hessian_vector_energy<gradient_only>());

int main() { return 0; }
