// Niederreiter's base-2 sequence: GSL's and Boost.Random's points, the irreducible polynomials,
// the (t, m, s)-net property the construction guarantees, index ranges, and bad input.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <tessera/qmc/niederreiter.hpp>
#include <vector>

using namespace tessera::qmc;
using tessera::exec::host;

namespace {

constexpr digital_net_options unrandomized(net_order order) { return {order, net_randomization::none, 0}; }

// GSL 2.7.1 (Debian libgsl-dev 2.7.1+dfsg-5+deb12u1), printed by this C program:
//   gsl_qrng *q = gsl_qrng_alloc(gsl_qrng_niederreiter_2, 12);  double x[12];
//   for (unsigned long i = 0; i < end; ++i) { gsl_qrng_get(q, x); if (i >= begin) print x[j] * 2^31; }
// for [begin, end) = [0, 16) and [1000000, 1000006) (a fresh gsl_qrng_init before each range).
// gsl_qrng_niederreiter_2 holds 31 digits, so every x * 2^31 is an integer; its i-th call returns
// Gray-code point i, starting with the origin.
const std::uint64_t gsl_first[16][12] = {
    {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0},
    {1073741824, 1073741824, 1610612736, 1879048192, 1879048192, 2013265920, 2013265920, 2013265920, 2080374784, 2080374784, 2080374784, 2080374784},
    {1610612736, 536870912, 671088640, 301989888, 301989888, 142606336, 142606336, 142606336, 69206016, 69206016, 69206016, 69206016},
    {536870912, 1610612736, 1207959552, 1644167168, 1644167168, 1887436800, 1887436800, 1887436800, 2015363072, 2015363072, 2015363072, 2015363072},
    {805306368, 805306368, 1879048192, 603979776, 872415232, 285212672, 419430400, 419430400, 138412032, 138412032, 138412032, 205520896},
    {1879048192, 1879048192, 268435456, 1409286144, 1140850688, 1761607680, 1627389952, 1627389952, 1950351360, 1950351360, 1950351360, 1883242496},
    {1342177280, 268435456, 1476395008, 905969664, 637534208, 427819008, 293601280, 293601280, 207618048, 207618048, 207618048, 140509184},
    {268435456, 1342177280, 939524096, 1174405120, 1442840576, 1635778560, 1769996288, 1769996288, 1885339648, 1885339648, 1885339648, 1952448512},
    {402653184, 671088640, 1107296256, 1476395008, 2013265920, 570425344, 973078528, 838860800, 276824064, 343932928, 343932928, 478150656},
    {1476395008, 1744830464, 570425344, 671088640, 134217728, 1509949440, 1107296256, 1241513984, 1820327936, 1753219072, 1753219072, 1619001344},
    {2013265920, 134217728, 1778384896, 1241513984, 1778384896, 713031680, 847249408, 981467136, 346030080, 278921216, 278921216, 413138944},
    {939524096, 1207959552, 167772160, 973078528, 436207616, 1384120320, 1249902592, 1115684864, 1755316224, 1822425088, 1822425088, 1688207360},
    {671088640, 402653184, 838860800, 2080374784, 1275068416, 855638016, 587202560, 721420288, 415236096, 482344960, 482344960, 281018368},
    {1744830464, 1476395008, 1375731712, 201326592, 1006632960, 1258291200, 1526726656, 1392508928, 1690304512, 1623195648, 1623195648, 1824522240},
    {1207959552, 939524096, 436207616, 1845493760, 1577058304, 998244352, 729808896, 595591168, 484442112, 417333248, 417333248, 350224384},
    {134217728, 2013265920, 2046820352, 503316480, 771751936, 1132462080, 1400897536, 1535115264, 1625292800, 1692401664, 1692401664, 1759510528}};
const std::uint64_t gsl_deep[6][12] = {  // points 1000000 .. 1000005
    {56854528, 669841408, 1390434816, 868710528, 648386688, 256240512, 1180746624, 1249069952, 13319104, 988885952, 2023502784, 1990935488},
    {1130596352, 1743583232, 853563904, 1137145984, 1453693056, 2001070976, 1046528896, 846416768, 2093693888, 1190212544, 77345728, 178996160},
    {1667467264, 132970496, 2061523456, 566720640, 883267712, 130411392, 1323352960, 1123240832, 82525120, 1053897664, 2092708800, 1921729472},
    {593725440, 1206712320, 450910720, 1372027008, 1151703168, 2143677312, 920699776, 989023104, 2028682176, 1121006528, 12334016, 244007872},
    {862160896, 401405952, 585128448, 398948480, 312842368, 507898752, 1600177024, 1400064896, 143342528, 850473920, 1893479360, 2062238656},
    {1935902720, 1475147776, 1121999360, 1741125760, 1655019648, 1715858304, 660652928, 728976256, 1955281856, 1320235968, 215757760, 116081600}};

// Row `row` (digit row + 1) of the generating matrix of coordinate j, restricted to columns
// 0..m-1, as an m-bit integer.
std::uint64_t matrix_row(const generating_matrices& c, int j, int row, int m) {
  std::uint64_t bits = 0;
  for (int r = 0; r < m; ++r) bits |= ((c.column(j, r) >> (c.precision() - 1 - row)) & 1u) << r;
  return bits;
}

// Whether the vectors are linearly independent over GF(2) (Gaussian elimination).
bool independent(const std::vector<std::uint64_t>& vectors) {
  std::vector<std::uint64_t> basis;  // reduced, distinct leading bits
  for (std::uint64_t v : vectors) {
    for (std::uint64_t b : basis) v = std::min(v, v ^ b);
    if (v == 0) return false;
    basis.push_back(v);
  }
  return true;
}

// The digital-net criterion (Niederreiter, "Random Number Generation and Quasi-Monte Carlo
// Methods", SIAM 1992, section 4.3; Dick and Pillichshammer 2010, ch. 4): the first 2^m points of
// the coordinates `dims` form a (t, m, s)-net iff for every d_1 + ... + d_s = m - t (d_i >= 0)
// the first d_i rows of C_{dims[i]}, cut to m columns, are linearly independent.
bool is_digital_net(const generating_matrices& c, const std::vector<int>& dims, int m, int t) {
  const std::size_t s = dims.size();
  std::vector<std::vector<std::uint64_t>> rows(s);
  for (std::size_t i = 0; i < s; ++i)
    for (int row = 0; row < m - t; ++row) rows[i].push_back(matrix_row(c, dims[i], row, m));
  std::vector<int> d(s, 0);
  // Enumerates the compositions of `left` into d[i..s-1].
  auto all_independent = [&](auto&& self, std::size_t i, int left) -> bool {
    if (i + 1 == s) {
      d[i] = left;
      std::vector<std::uint64_t> chosen;
      for (std::size_t k = 0; k < s; ++k)
        chosen.insert(chosen.end(), rows[k].begin(), rows[k].begin() + d[k]);
      return independent(chosen);
    }
    for (d[i] = 0; d[i] <= left; ++d[i])
      if (!self(self, i + 1, left - d[i])) return false;
    return true;
  };
  return all_independent(all_independent, 0, m - t);
}

// Whether points [first, first + 2^m) of x, coordinates 0..s-1, form a (t, m, s)-net by counting:
// every elementary interval prod_i [a_i 2^-d_i, (a_i + 1) 2^-d_i) with sum d_i = m - t holds
// exactly 2^t points.
bool every_interval_holds_2_to_t(const point_array<double>& x, std::size_t first, int s, int m, int t) {
  const std::size_t n = std::size_t{1} << m;
  std::vector<int> d(static_cast<std::size_t>(s), 0);
  auto check = [&](auto&& self, int i, int left) -> bool {
    if (i + 1 == s) {
      d[static_cast<std::size_t>(i)] = left;
      std::vector<std::size_t> count(std::size_t{1} << (m - t), 0);
      for (std::size_t p = first; p < first + n; ++p) {
        std::size_t box = 0;
        for (int k = 0; k < s; ++k)
          box = (box << d[static_cast<std::size_t>(k)]) +
                static_cast<std::size_t>(std::ldexp(x(p, static_cast<std::size_t>(k)), d[static_cast<std::size_t>(k)]));
        ++count[box];
      }
      for (std::size_t c : count)
        if (c != (std::size_t{1} << t)) return false;
      return true;
    }
    for (d[static_cast<std::size_t>(i)] = 0; d[static_cast<std::size_t>(i)] <= left; ++d[static_cast<std::size_t>(i)])
      if (!self(self, i + 1, left - d[static_cast<std::size_t>(i)])) return false;
    return true;
  };
  return check(check, 0, m - t);
}

// T_s = sum_{i <= s} (deg p_i - 1) for the first twelve polynomials (degrees 1 1 2 3 3 4 4 4 5 5 5 5).
const int quality[13] = {0, 0, 0, 1, 3, 5, 8, 11, 14, 18, 22, 26, 30};

}  // namespace

TEST_CASE("the polynomials are GSL's first twelve, then all irreducible ones in order of value") {
  const auto p = tessera::qmc::detail::irreducible_polynomials_gf2(niederreiter_max_dimension);
  // GSL's and Bratley-Fox-Niederreiter's table for dimensions 1..12: x, x + 1, x^2 + x + 1, ...
  const std::uint64_t first[12] = {2, 3, 7, 11, 13, 19, 25, 31, 37, 41, 47, 55};
  for (int j = 0; j < 12; ++j) CHECK(p[static_cast<std::size_t>(j)] == first[j]);
  // The number of irreducible polynomials over GF(2) of degree n = 1..15 (Gauss's formula,
  // OEIS A001037): their sum is the maximum dimension.
  const int per_degree[16] = {0, 2, 1, 2, 3, 6, 9, 18, 30, 56, 99, 186, 335, 630, 1161, 2182};
  std::vector<int> counted(16, 0);
  for (std::size_t j = 0; j < p.size(); ++j) {
    if (j > 0) REQUIRE(p[j] > p[j - 1]);
    ++counted[static_cast<std::size_t>(tessera::qmc::detail::gf2_degree(p[j]))];
  }
  for (int n = 1; n <= 15; ++n) CHECK(counted[static_cast<std::size_t>(n)] == per_degree[n]);
  CHECK(p.size() == 4720);
}

TEST_CASE("Gray-order points from index 0 equal GSL's gsl_qrng_niederreiter_2 for d = 12") {
  for (int precision : {31, 32, 64}) {
    INFO("precision " << precision);
    const digital_net gray = niederreiter(12, unrandomized(net_order::gray), precision);
    const auto head = generate<double>(host, gray, {0, 16});
    const auto deep = generate<double>(host, gray, {1000000, 1000006});
    // GSL's 31 digits are the leading digits of ours: exact at precision 31, truncated above.
    for (std::size_t j = 0; j < 12; ++j) {
      for (std::size_t i = 0; i < 16; ++i)
        CHECK(std::floor(std::ldexp(head(i, j), 31)) == static_cast<double>(gsl_first[i][j]));
      for (std::size_t i = 0; i < 6; ++i)
        CHECK(std::floor(std::ldexp(deep(i, j), 31)) == static_cast<double>(gsl_deep[i][j]));
      if (precision == 31)
        for (std::size_t i = 0; i < 16; ++i) CHECK(std::ldexp(head(i, j), 31) == static_cast<double>(gsl_first[i][j]));
    }
    // Natural order visits the same points: natural point i ^ (i >> 1) is Gray point i.
    const auto natural = generate<double>(host, niederreiter(12, unrandomized(net_order::natural), precision), {0, 16});
    for (std::size_t i = 0; i < 16; ++i)
      for (std::size_t j = 0; j < 12; ++j) CHECK(natural(i ^ (i >> 1), j) == head(i, j));
  }
}

TEST_CASE("64-digit points equal Boost.Random's niederreiter_base2 up to dimension 4720") {
  // Boost 1.74: boost::random::niederreiter_base2_engine<std::uint64_t, 64> e(d), which emits
  // Gray-code points from index 1 (it skips the origin), one coordinate per call:
  //   e.discard(d * (first - 1)); then d calls per point, printing coordinates `dims`.
  SECTION("d = 4720, points 100000..100003") {
    const std::uint64_t expected[4][8] = {
        {1126603594284400640u, 1984539323298480128u, 17563757621524037632u, 3343641798101696512u, 1104521140191100928u, 2583048307597115392u, 12588982901913681920u, 5041512876394151936u},
        {10349975631139176448u, 11207911360153255936u, 846395804724756480u, 15449317596473589760u, 17353508595743850496u, 15861911808899022848u, 5857790308855054336u, 13405260334374584320u},
        {14961661649566564352u, 6596225341725868032u, 18158232772336943104u, 2749166647288791040u, 1140620305954242560u, 2580796232905523200u, 12589545869046972416u, 5040949943620599808u},
        {5738289612711788544u, 15819597378580643840u, 287949450930814976u, 16007763950267531264u, 17317550167469064192u, 15864163333834801152u, 5857227376081502208u, 13405823301507874816u}};
    const std::size_t dims[8] = {0, 1, 11, 12, 99, 999, 2999, 4719};
    const auto x64 = generate_digits(host, niederreiter(4720, unrandomized(net_order::gray), 64), {100000, 100004});
    const auto x32 = generate_digits(host, niederreiter(4720, unrandomized(net_order::gray), 32), {100000, 100004});
    for (std::size_t i = 0; i < 4; ++i)
      for (std::size_t k = 0; k < 8; ++k) {
        CHECK(x64(i, dims[k]) == expected[i][k]);
        CHECK(x32(i, dims[k]) == expected[i][k] >> 32);
      }
  }
  SECTION("d = 100, points 2^45 + 12345 .. 2^45 + 12347 (45 index digits)") {
    const std::uint64_t expected[3][4] = {
        {11823074921755181056u, 10698300915963920384u, 12650663879706411008u, 10058295400084537344u},
        {16434760940182568960u, 6086614897536532480u, 6904070755181658112u, 8401041105956372480u},
        {7211388903327793152u, 15309986934391308288u, 12092217525912469504u, 10022336971809751040u}};
    const std::size_t dims[4] = {0, 1, 12, 99};
    const std::uint64_t first = (std::uint64_t{1} << 45) + 12345;
    const auto x = generate_digits(host, niederreiter(100, unrandomized(net_order::gray), 64), {first, first + 3});
    for (std::size_t i = 0; i < 3; ++i)
      for (std::size_t k = 0; k < 4; ++k) CHECK(x(i, dims[k]) == expected[i][k]);
  }
}

TEST_CASE("coordinates 1..s form a (T_s, m, s)-net, T_s = sum (deg p_i - 1), by the rank criterion") {
  const generating_matrices c = niederreiter_matrices(12, 64);
  for (int s = 1; s <= 12; ++s) {
    std::vector<int> dims;
    for (int i = 0; i < s; ++i) dims.push_back(i);
    const int t = quality[s];
    const int last = s <= 2 ? 64 : t + 8;  // cost grows like C(m - t + s - 1, s - 1)
    for (int m = std::max(t, 1); m <= last; ++m) {
      INFO("s = " << s << ", m = " << m << ", t = " << t);
      CHECK(is_digital_net(c, dims, m, t));
    }
  }
}

TEST_CASE("every coordinate alone is an (e - 1, 1)-sequence, up to the maximum dimension") {
  // The first m - e + 1 rows of C_j, cut to m columns, are independent for every m >= e - 1: the
  // s = 1 case of the theorem, for all 4720 polynomials. Coordinates 1 and 2 (e = 1) are
  // therefore nonsingular in every leading m x m block.
  const generating_matrices c = niederreiter_matrices(niederreiter_max_dimension, 32);
  const auto p = tessera::qmc::detail::irreducible_polynomials_gf2(niederreiter_max_dimension);
  int failures = 0;
  for (int j = 0; j < niederreiter_max_dimension; ++j) {
    const int e = tessera::qmc::detail::gf2_degree(p[static_cast<std::size_t>(j)]);
    for (int m = std::max(e - 1, 1); m <= 32; ++m)
      if (!is_digital_net(c, {j}, m, e - 1)) ++failures;
  }
  CHECK(failures == 0);
  // The bound is needed: with e = 3 (coordinate 4, x^3 + x + 1) digits 1 and 2 of columns 0 and 1
  // are all ones (GSL's points 1 and 3: 0.111... and 0.110001...), so its leading 2 x 2 block is
  // singular, and coordinates 1..3 (T_3 = 1) are no (0, 2, 3)-net.
  CHECK_FALSE(is_digital_net(c, {3}, 2, 0));
  CHECK_FALSE(is_digital_net(c, {0, 1, 2}, 2, 0));
}

TEST_CASE("the points themselves: every elementary interval holds 2^T_s points, in any block") {
  // Counting boxes on generated points checks the rank criterion's conclusion independently. A
  // digital sequence's block [k 2^m, (k + 1) 2^m) is a digitally shifted copy of the first one.
  const auto x = generate<double>(host, niederreiter(4, unrandomized(net_order::natural)), {0, 6 << 12});
  for (int m = 1; m <= 12; ++m)
    for (std::size_t k : {std::size_t{0}, std::size_t{5}}) {
      INFO("m = " << m << ", block " << k);
      CHECK(every_interval_holds_2_to_t(x, k << m, 2, m, 0));
      CHECK(every_interval_holds_2_to_t(x, k << m, 3, m, 1));
      if (m >= 3) CHECK(every_interval_holds_2_to_t(x, k << m, 4, m, 3));
    }
  CHECK_FALSE(every_interval_holds_2_to_t(x, 0, 3, 2, 0));  // as the rank criterion says
}

TEST_CASE("fewer columns or digits give the leading columns and digits of the full matrices") {
  const generating_matrices full = niederreiter_matrices(30, 64);
  const generating_matrices narrow = niederreiter_matrices(30, 64, 40);
  const generating_matrices short_digits = niederreiter_matrices(30, 31);
  CHECK(narrow.columns() == 40);
  CHECK(full.columns() == 64);
  CHECK(short_digits.columns() == 31);
  for (int j = 0; j < 30; ++j) {
    for (int r = 0; r < 40; ++r) CHECK(narrow.column(j, r) == full.column(j, r));
    for (int r = 0; r < 31; ++r) CHECK(short_digits.column(j, r) == full.column(j, r) >> 33);
  }
}

TEST_CASE("any index range equals the same rows of a longer generation") {
  for (net_randomization randomization : {net_randomization::none, net_randomization::digital_shift,
                                          net_randomization::lms_digital_shift, net_randomization::nus}) {
    for (net_order order : {net_order::natural, net_order::gray}) {
      for (int precision : {32, 64}) {
        const digital_net net = niederreiter(13, {order, randomization, 42}, precision);
        CHECK(net.dimension() == 13);
        CHECK(net.options().order == order);
        const auto all = generate<double>(host, net, {0, 20000}, 2);
        const auto slice = generate<double>(host, net, {12289, 19001}, 2);
        for (std::size_t i = 0; i < slice.shape(0); ++i)
          for (std::size_t j = 0; j < 13; ++j) REQUIRE(slice(i, j) == all(12289 + i, j));
      }
    }
  }
}

TEST_CASE("bad arguments throw invalid_argument naming the parameter") {
  auto message = [](auto&& call) -> std::string {
    try {
      call();
    } catch (const tessera::invalid_argument& e) {
      return e.what();
    }
    return "no exception";
  };
  using Catch::Matchers::Contains;
  CHECK_THAT(message([] { niederreiter_matrices(0); }), Contains("niederreiter_matrices") && Contains("dimension = 0"));
  CHECK_THAT(message([] { niederreiter_matrices(4721); }), Contains("dimension = 4721") && Contains("4720"));
  CHECK_THAT(message([] { niederreiter_matrices(3, 0); }), Contains("precision = 0"));
  CHECK_THAT(message([] { niederreiter_matrices(3, 65); }), Contains("precision = 65"));
  CHECK_THAT(message([] { niederreiter_matrices(3, 32, 0); }), Contains("columns = 0"));
  CHECK_THAT(message([] { niederreiter_matrices(3, 32, 33); }), Contains("columns = 33"));
  CHECK_THAT(message([] { niederreiter(-1); }), Contains("dimension = -1"));
  CHECK_THAT(message([] { niederreiter(2, {}, 65); }), Contains("precision = 65"));
  CHECK_NOTHROW(niederreiter_matrices(niederreiter_max_dimension, 1));
}
